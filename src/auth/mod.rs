//! Authentication and authorisation: who is calling, and may they call this route.
//!
//! Browsers hold a server-side session (an opaque token in an HttpOnly `__Host-` cookie);
//! other services present a short-lived JWT. Both become a [`Principal`]; the route table
//! says which role a route needs, and everything not marked public needs one (deny by
//! default).

pub mod cookie;
pub mod csrf;
pub mod kv_store;
pub mod one_time;
pub mod password;
pub mod service_token;
pub mod session;
pub mod session_cache;
pub mod token;
pub mod webauthn;

use crate::domain::Role;
use crate::error::{AppError, ErrorCode};
use crate::router::Access;
use session::Session;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A browser session.
    Session {
        storage_key: String,
        session: Session,
    },
    /// Another service, by JWT.
    Service(service_token::ServicePrincipal),
}

impl Principal {
    /// Returns the role the caller holds, if any.
    pub fn role(&self) -> Option<Role> {
        match self {
            Self::Session { session, .. } => Some(session.role),
            Self::Service(s) => s.role,
        }
    }

    /// Returns an identifier for the log line: the user id, or `service:<sub>`.
    pub fn log_id(&self) -> String {
        match self {
            Self::Session { session, .. } => session.user_id.to_string(),
            Self::Service(s) => format!("service:{}", s.subject),
        }
    }

    /// Returns the session, or 403 for callers without one (session routes only make sense
    /// for browsers).
    pub fn session(&self) -> Result<(&str, &Session), AppError> {
        match self {
            Self::Session {
                storage_key,
                session,
            } => Ok((storage_key, session)),
            Self::Service(_) => Err(AppError::new(ErrorCode::Forbidden)
                .with_message("This route needs a browser session.")),
        }
    }
}

/// Checks that `principal` may use a route with `access`: 403 when its role is too low. A
/// service token's 403 names the scope the route needs (RFC 6750 §3.1, `insufficient_scope`).
pub fn authorize(principal: &Principal, access: Access) -> Result<(), AppError> {
    match access {
        Access::Public | Access::Optional => Ok(()),
        Access::Role(needed) if principal.role().is_some_and(|r| r >= needed) => Ok(()),
        Access::Role(needed) => {
            let forbidden = AppError::new(ErrorCode::Forbidden);
            Err(match principal {
                Principal::Service(_) => forbidden.with_header(
                    "WWW-Authenticate",
                    format!(
                        r#"Bearer error="insufficient_scope", scope="{}""#,
                        needed.as_str()
                    ),
                ),
                Principal::Session { .. } => forbidden,
            })
        }
    }
}

/// The 401 for a missing or unusable credential. When a session cookie was sent, the answer
/// also deletes it, so the browser stops presenting it.
pub fn unauthenticated(clear_cookie: bool) -> AppError {
    let err = AppError::new(ErrorCode::Unauthenticated);
    if clear_cookie {
        err.with_header("Set-Cookie", cookie::clear())
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;
    use session::SessionPolicy;

    fn session_principal(role: Role) -> Principal {
        let policy = SessionPolicy {
            idle_ms: 1,
            absolute_ms: 1,
            touch_ms: 1,
            cache_ms: 0,
        };
        Principal::Session {
            storage_key: "k".into(),
            session: Session::new(
                &UserId::parse("0190b0a0-0000-7000-8000-000000000000").unwrap(),
                role,
                0,
                "",
                session::SignIn::Password,
                0,
                &policy,
            ),
        }
    }

    #[test]
    fn roles_are_ordered() {
        let user = session_principal(Role::User);
        let admin = session_principal(Role::Admin);
        assert!(authorize(&user, Access::Role(Role::User)).is_ok());
        assert_eq!(
            authorize(&user, Access::Role(Role::Admin))
                .unwrap_err()
                .status(),
            403
        );
        assert!(authorize(&admin, Access::Role(Role::User)).is_ok());
        assert!(authorize(&admin, Access::Role(Role::Admin)).is_ok());
        // A browser is not challenged: it has no bearer token to change.
        let err = authorize(&user, Access::Role(Role::Admin)).unwrap_err();
        assert!(err.headers().is_empty());
    }

    #[test]
    fn services_without_a_role_scope_are_forbidden() {
        let svc = Principal::Service(service_token::ServicePrincipal {
            subject: "s".into(),
            scopes: vec!["reports:read".into()],
            role: None,
        });
        let err = authorize(&svc, Access::Role(Role::User)).unwrap_err();
        assert_eq!(err.status(), 403);
        assert_eq!(
            err.headers(),
            [(
                "WWW-Authenticate",
                r#"Bearer error="insufficient_scope", scope="user""#.into()
            )]
            .as_slice()
        );
        assert_eq!(svc.session().unwrap_err().status(), 403);
        assert_eq!(svc.log_id(), "service:s");
    }
}
