//! User accounts: the user, what clients see of one, the users table, and the handlers for
//! signing up, logging in and out, the caller's sessions and password, and administration.

#[cfg(not(target_arch = "wasm32"))]
pub mod contract;
pub mod email_link;
pub mod handlers;
pub mod notices;
pub mod repo;
pub mod sessions;
pub mod signin;

use crate::db::{DbError, Row};
use crate::domain::{Email, Role, UserId};
use serde::Serialize;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub password_hash: String,
    pub role: Role,
    pub session_epoch: i64,
    pub created_at: u64,
    /// When a sign-in link first proved the address (`None`: never).
    pub email_proven_at: Option<u64>,
}

impl User {
    /// Decodes a row of the user columns; a value that breaks a rule is a protocol error.
    pub fn from_row(row: &Row) -> Result<Self, DbError> {
        let role = row.text("role")?;
        Ok(Self {
            id: row.parsed("id", UserId::parse)?,
            email: row.parsed("email", Email::parse)?,
            password_hash: row.text("password_hash")?,
            role: Role::parse(&role)
                .ok_or_else(|| DbError::Protocol(format!("unknown role {role:?}")))?,
            session_epoch: row.int("session_epoch")?,
            created_at: row.uint("created_at")?,
            email_proven_at: row.opt_uint("email_proven_at")?,
        })
    }

    /// Returns true unless the account was made with a passkey and has no password.
    pub fn has_password(&self) -> bool {
        !self.password_hash.is_empty()
    }

    /// The WebAuthn user handle: the id's 16 bytes (opaque, no personal data).
    pub fn handle(&self) -> [u8; 16] {
        self.id.uuid_bytes()
    }

    /// Returns the canonical URL (an administrators' route).
    pub fn location(&self) -> String {
        format!("/v1/admin/users/{}", self.id)
    }

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

/// What clients see of a user: never the password hash or the epoch.
#[derive(Debug, Clone, Serialize)]
pub struct PublicUser<'a> {
    pub id: &'a UserId,
    pub email: &'a Email,
    pub role: Role,
    pub created_at: u64,
}
