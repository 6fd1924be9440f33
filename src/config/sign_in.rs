//! The sign-in settings: the passkey relying party, password login, the mailer for sign-in
//! links and where those links point.

use super::{flag, parse_origin, parse_url, ConfigError};
use crate::auth::webauthn::RelyingParty;

/// How mail leaves the Worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailerConfig {
    /// Development and tests: each message is a JSON log line (never in production, where
    /// logs would carry live sign-in links).
    Log,
    /// An HTTP mail API taking `{"from","to","subject","text"}` with a bearer token (Resend's
    /// format): `MAIL_API_URL`, `MAIL_API_TOKEN` (secret), `MAIL_FROM`.
    Http {
        url: String,
        token: String,
        from: String,
    },
}

/// What [`parse`] reads.
pub struct SignIn {
    pub webauthn: Option<RelyingParty>,
    pub password_login: bool,
    pub mailer: Option<MailerConfig>,
    pub app_url: Option<String>,
}

/// Reads `WEBAUTHN_*`, `PASSWORD_LOGIN`, `MAIL_*` and `APP_URL`.
pub fn parse(
    lookup: &impl Fn(&str) -> Option<String>,
    production: bool,
) -> Result<SignIn, ConfigError> {
    let webauthn = relying_party(lookup, production)?;
    let password_login = flag(lookup, "PASSWORD_LOGIN", true)?;
    let mailer = mailer(lookup, production)?;
    // Links that reach real mailboxes (a mail API, in any environment) never take their host
    // from the request, whose `Host` a caller chooses: they point at `APP_URL`, or else at the
    // first passkey origin. Only the development log mailer uses the origin a request reached.
    let mails_out = matches!(mailer, Some(MailerConfig::Http { .. }));
    let app_url = match lookup("APP_URL").filter(|v| !v.trim().is_empty()) {
        Some(url) => Some(parse_origin(url.trim()).map_err(|reason| ConfigError {
            var: "APP_URL",
            reason,
        })?),
        None if production || mails_out => {
            webauthn.as_ref().and_then(|rp| rp.origins.first().cloned())
        }
        None => None,
    };
    if mails_out && app_url.is_none() {
        return Err(ConfigError {
            var: "APP_URL",
            reason: "required when a mail API is configured (links must not take their host \
                     from the request)"
                .into(),
        });
    }
    Ok(SignIn {
        webauthn,
        password_login,
        mailer,
        app_url,
    })
}

/// Passkey settings. Development and tests default the RP ID to `localhost` and accept any
/// `http://localhost:<port>` origin, so `make dev PORT=…` works; production needs the RP ID
/// and the exact origins, or passkeys stay off.
fn relying_party(
    lookup: &impl Fn(&str) -> Option<String>,
    production: bool,
) -> Result<Option<RelyingParty>, ConfigError> {
    let err = |var, reason: &str| ConfigError {
        var,
        reason: reason.to_owned(),
    };
    let id = match lookup("WEBAUTHN_RP_ID").map(|v| v.trim().to_ascii_lowercase()) {
        Some(id) if !id.is_empty() => id,
        _ if production => return Ok(None),
        _ => "localhost".to_owned(),
    };
    let valid = id.len() <= 253
        && id.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && !id.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !valid {
        return Err(err(
            "WEBAUTHN_RP_ID",
            "expected a domain name such as example.com",
        ));
    }
    let origins = lookup("WEBAUTHN_ORIGINS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|origin| parse_origin(origin).map_err(|r| err("WEBAUTHN_ORIGINS", &r)))
        .collect::<Result<Vec<_>, _>>()?;
    if production && origins.is_empty() {
        return Err(err(
            "WEBAUTHN_ORIGINS",
            "required in production with WEBAUTHN_RP_ID",
        ));
    }
    let require_user_verification = match lookup("WEBAUTHN_USER_VERIFICATION")
        .as_deref()
        .map(str::trim)
    {
        None | Some("") | Some("required") => true,
        Some("preferred") => false,
        Some(_) => {
            return Err(err(
                "WEBAUTHN_USER_VERIFICATION",
                "expected required or preferred",
            ))
        }
    };
    Ok(Some(RelyingParty {
        id,
        name: lookup("WEBAUTHN_RP_NAME")
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "edge-api".to_owned()),
        origins,
        any_localhost: !production,
        require_user_verification,
    }))
}

/// The mailer: the HTTP API when `MAIL_API_URL` is set, else the log in development and
/// tests, else none.
fn mailer(
    lookup: &impl Fn(&str) -> Option<String>,
    production: bool,
) -> Result<Option<MailerConfig>, ConfigError> {
    let Some(url) = lookup("MAIL_API_URL").filter(|u| !u.trim().is_empty()) else {
        return Ok((!production).then_some(MailerConfig::Log));
    };
    let url = parse_url("MAIL_API_URL", &url, &["https://", "http://"])?;
    let token = lookup("MAIL_API_TOKEN")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ConfigError {
            var: "MAIL_API_TOKEN",
            reason: "required with MAIL_API_URL".into(),
        })?;
    let from = lookup("MAIL_FROM")
        .map(|f| f.trim().to_owned())
        .filter(|f| f.contains('@'))
        .ok_or_else(|| ConfigError {
            var: "MAIL_FROM",
            reason: "required with MAIL_API_URL (an address such as login@example.com)".into(),
        })?;
    Ok(Some(MailerConfig::Http { url, token, from }))
}
