//! User accounts in D1: the row type and the queries, with storage errors translated here
//! (a duplicate e-mail is 409 CONFLICT) rather than in handlers.
//!
//! Times are integer Unix milliseconds and ids UUIDv7 text: D1 hands numbers to JavaScript
//! as doubles, exact only up to 2^53.

use crate::domain::Email;
use crate::error::{AppError, ErrorCode};
use crate::router::Role;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::D1Database;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    #[serde(deserialize_with = "role_from_str")]
    pub role: Role,
    pub session_epoch: i64,
    pub created_at: u64,
}

fn role_from_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
    let s = String::deserialize(d)?;
    Role::parse(&s).ok_or_else(|| serde::de::Error::custom("unknown role"))
}

/// What clients see of a user: never the password hash or the epoch.
#[derive(Debug, Clone, Serialize)]
pub struct PublicUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub role: Role,
    pub created_at: u64,
}

impl User {
    /// Returns the client-facing representation.
    pub fn public(&self) -> PublicUser<'_> {
        PublicUser {
            id: &self.id,
            email: &self.email,
            role: self.role,
            created_at: self.created_at,
        }
    }
}

const COLUMNS: &str = "id, email, password_hash, role, session_epoch, created_at";

/// The users table.
pub struct Users {
    db: D1Database,
}

fn db_error(err: worker::Error) -> AppError {
    AppError::unavailable(format!("D1: {err}"), 1)
}

impl Users {
    /// Uses the D1 database bound as `binding`.
    pub fn new(env: &worker::Env, binding: &str) -> Result<Self, AppError> {
        let db = env
            .d1(binding)
            .map_err(|e| AppError::internal(format!("D1 binding {binding}: {e}")))?;
        Ok(Self { db })
    }

    /// Inserts a new user with role `user`; a taken e-mail is 409 CONFLICT.
    pub async fn insert(
        &self,
        email: &Email,
        password_hash: &str,
        now: u64,
    ) -> Result<User, AppError> {
        let id = crate::ids::uuid_v7(now).to_string();
        let sql = format!(
            "INSERT INTO users ({COLUMNS}) VALUES (?1, ?2, ?3, 'user', 0, ?4) RETURNING {COLUMNS}"
        );
        let stmt = self
            .db
            .prepare(sql)
            .bind(&[
                id.into(),
                email.as_str().into(),
                password_hash.into(),
                JsValue::from_f64(now as f64),
            ])
            .map_err(AppError::internal)?;
        match stmt.first::<User>(None).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(AppError::internal("INSERT … RETURNING returned no row")),
            Err(e) if e.to_string().contains("UNIQUE constraint failed") => {
                Err(AppError::new(ErrorCode::Conflict)
                    .with_message("An account with this e-mail already exists.")
                    .with_details(vec![crate::error::FieldIssue::new("email", "taken")]))
            }
            Err(e) => Err(db_error(e)),
        }
    }

    /// Finds a user by normalised e-mail.
    pub async fn by_email(&self, email: &Email) -> Result<Option<User>, AppError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE email = ?1");
        self.db
            .prepare(sql)
            .bind(&[email.as_str().into()])
            .map_err(AppError::internal)?
            .first::<User>(None)
            .await
            .map_err(db_error)
    }

    /// Finds a user by id.
    pub async fn by_id(&self, id: &str) -> Result<Option<User>, AppError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = ?1");
        self.db
            .prepare(sql)
            .bind(&[id.into()])
            .map_err(AppError::internal)?
            .first::<User>(None)
            .await
            .map_err(db_error)
    }

    /// Replaces the password hash; with `revoke`, also increments `session_epoch` so every
    /// existing session fails sensitive routes. Returns the user as updated.
    pub async fn set_password(
        &self,
        id: &str,
        password_hash: &str,
        revoke: bool,
    ) -> Result<User, AppError> {
        let sql = format!(
            "UPDATE users SET password_hash = ?2, session_epoch = session_epoch + ?3 \
             WHERE id = ?1 RETURNING {COLUMNS}"
        );
        self.db
            .prepare(sql)
            .bind(&[id.into(), password_hash.into(), i32::from(revoke).into()])
            .map_err(AppError::internal)?
            .first::<User>(None)
            .await
            .map_err(db_error)?
            .ok_or_else(|| AppError::new(ErrorCode::NotFound))
    }

    /// Increments `session_epoch`, invalidating every session for sensitive routes.
    pub async fn bump_epoch(&self, id: &str) -> Result<User, AppError> {
        let sql = format!(
            "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?1 RETURNING {COLUMNS}"
        );
        self.db
            .prepare(sql)
            .bind(&[id.into()])
            .map_err(AppError::internal)?
            .first::<User>(None)
            .await
            .map_err(db_error)?
            .ok_or_else(|| AppError::new(ErrorCode::NotFound))
    }

    /// Sets a user's role (administration and tests).
    pub async fn set_role(&self, email: &Email, role: Role) -> Result<User, AppError> {
        let sql = format!(
            "UPDATE users SET role = ?2, session_epoch = session_epoch + 1 \
             WHERE email = ?1 RETURNING {COLUMNS}"
        );
        self.db
            .prepare(sql)
            .bind(&[email.as_str().into(), role.as_str().into()])
            .map_err(AppError::internal)?
            .first::<User>(None)
            .await
            .map_err(db_error)?
            .ok_or_else(|| AppError::new(ErrorCode::NotFound))
    }

    /// Lists users in (created_at, id) order after `after`, at most `limit`.
    pub async fn page(
        &self,
        after: Option<&(u64, String)>,
        limit: u32,
    ) -> Result<Vec<User>, AppError> {
        let (created, id) = after.map_or((-1.0, String::new()), |(c, i)| (*c as f64, i.clone()));
        let sql = format!(
            "SELECT {COLUMNS} FROM users WHERE (created_at, id) > (?1, ?2) \
             ORDER BY created_at, id LIMIT ?3"
        );
        self.db
            .prepare(sql)
            .bind(&[created.into(), id.into(), limit.into()])
            .map_err(AppError::internal)?
            .all()
            .await
            .map_err(db_error)?
            .results::<User>()
            .map_err(|e| AppError::internal(format!("decoding users: {e}")))
    }
}
