//! The users table, over the database port. Storage errors are translated here (a taken
//! e-mail is 409 CONFLICT with a field detail), not in handlers.

use super::User;
use crate::db::DbError;
use crate::db::{stmt, Database, Db, Row, Statement, Value};
use crate::domain::{Email, Role, UserId};
use crate::error::{AppError, ErrorCode, FieldIssue};

/// The user columns, for `concat!` into static SQL.
macro_rules! columns {
    () => {
        "id, email, password_hash, role, session_epoch, created_at, email_proven_at"
    };
}

/// The users table.
pub struct Users<'a> {
    db: &'a Db,
}

/// Translates an insert's failure: a taken e-mail is 409 CONFLICT with a field detail.
pub fn insert_error(err: DbError) -> AppError {
    match err {
        DbError::UniqueViolation(cause) => email_taken().with_cause(cause),
        e => e.into(),
    }
}

/// 409 for an e-mail that already has an account.
pub fn email_taken() -> AppError {
    AppError::new(ErrorCode::Conflict)
        .with_message("An account with this e-mail already exists.")
        .with_details(vec![FieldIssue::new("email", "taken")])
}

/// Decodes the first row, if any.
pub fn one(rows: Vec<Row>) -> Result<Option<User>, AppError> {
    match rows.first() {
        Some(row) => Ok(Some(User::from_row(row)?)),
        None => Ok(None),
    }
}

impl<'a> Users<'a> {
    /// Uses `db`.
    pub fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// The statement inserting user `id` with role `user` (an empty `password_hash` for an
    /// account made with a passkey), for a batch.
    pub fn insert_statement(
        id: &UserId,
        email: &Email,
        password_hash: &str,
        now: u64,
    ) -> Statement {
        stmt(
            concat!(
                "INSERT INTO users (",
                columns!(),
                ") VALUES (?1, ?2, ?3, 'user', 0, ?4, NULL) RETURNING ",
                columns!()
            ),
            [
                id.as_str().into(),
                email.as_str().into(),
                password_hash.into(),
                now.into(),
            ],
        )
    }

    /// Inserts a new user with role `user`; a taken e-mail is 409 CONFLICT.
    pub async fn insert(
        &self,
        email: &Email,
        password_hash: &str,
        now: u64,
    ) -> Result<User, AppError> {
        let id = UserId::generate(now);
        let result = self
            .db
            .rows(Self::insert_statement(&id, email, password_hash, now))
            .await;
        match result {
            Ok(rows) => one(rows)?.ok_or_else(|| AppError::internal("INSERT returned no row")),
            Err(e) => Err(insert_error(e)),
        }
    }

    /// Finds a user by normalised e-mail.
    pub async fn by_email(&self, email: &Email) -> Result<Option<User>, AppError> {
        one(self
            .db
            .rows(stmt(
                concat!("SELECT ", columns!(), " FROM users WHERE email = ?1"),
                [email.as_str().into()],
            ))
            .await?)
    }

    /// The statement finding the owner of the passkey with this credential id (base64url),
    /// for a batch beside the passkey's own row.
    pub fn owner_of_credential_statement(credential_id: &str) -> Statement {
        stmt(
            concat!(
                "SELECT ",
                columns!(),
                " FROM users WHERE id = (SELECT user_id FROM passkeys WHERE credential_id = ?1)"
            ),
            [credential_id.into()],
        )
    }

    /// Finds a user by id.
    pub async fn by_id(&self, id: &UserId) -> Result<Option<User>, AppError> {
        one(self
            .db
            .rows(stmt(
                concat!("SELECT ", columns!(), " FROM users WHERE id = ?1"),
                [id.as_str().into()],
            ))
            .await?)
    }

    /// Replaces the password hash; with `revoke`, also increments `session_epoch` so every
    /// existing session fails sensitive routes.
    pub async fn set_password(
        &self,
        id: &UserId,
        password_hash: &str,
        revoke: bool,
    ) -> Result<User, AppError> {
        one(self
            .db
            .rows(stmt(
                concat!(
                    "UPDATE users SET password_hash = ?2, session_epoch = session_epoch + ?3 \
                 WHERE id = ?1 RETURNING ",
                    columns!()
                ),
                [
                    id.as_str().into(),
                    password_hash.into(),
                    Value::Integer(i64::from(revoke)),
                ],
            ))
            .await?)?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound))
    }

    /// Increments `session_epoch`, invalidating every session for sensitive routes.
    pub async fn bump_epoch(&self, id: &UserId) -> Result<User, AppError> {
        one(self
            .db
            .rows(stmt(
                concat!(
                    "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?1 RETURNING ",
                    columns!()
                ),
                [id.as_str().into()],
            ))
            .await?)?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound))
    }

    /// Records the first proof of the account's address (a sign-in link) at `now`, and removes
    /// what was set up before it: every passkey, the password, and (through the epoch) every
    /// session for sensitive routes. Returns the account after and how many passkeys went;
    /// `None` when the address was proven already (a concurrent sign-in got there first).
    pub async fn confirm_address(
        &self,
        id: &UserId,
        now: u64,
    ) -> Result<Option<(User, u64)>, AppError> {
        let results = self
            .db
            .batch(vec![
                stmt(
                    "DELETE FROM passkeys WHERE user_id = ?1 AND EXISTS \
                     (SELECT 1 FROM users WHERE id = ?1 AND email_proven_at IS NULL)",
                    [id.as_str().into()],
                ),
                stmt(
                    concat!(
                        "UPDATE users SET email_proven_at = ?2, password_hash = '', \
                         session_epoch = session_epoch + 1 \
                         WHERE id = ?1 AND email_proven_at IS NULL RETURNING ",
                        columns!()
                    ),
                    [id.as_str().into(), now.into()],
                ),
            ])
            .await?;
        let mut results = results.into_iter();
        let removed = results.next().map_or(0, |r| r.rows_affected);
        let user = results.next().map(|r| one(r.rows)).transpose()?.flatten();
        Ok(user.map(|u| (u, removed)))
    }

    /// Deletes the account and everything it owns (notes, idempotency keys, sign-in links,
    /// passkeys) as one transaction; returns the account as it was, or `None` when there was
    /// no such account. The rows
    /// are deleted by name rather than left to `ON DELETE CASCADE`, which SQLite applies only
    /// where foreign keys are switched on (D1 does, a libSQL connection need not).
    pub async fn delete(&self, id: &UserId) -> Result<Option<User>, AppError> {
        let owned = |sql: &'static str| stmt(sql, [id.as_str().into()]);
        let results = self
            .db
            .batch(vec![
                owned("DELETE FROM idempotency_keys WHERE owner_id = ?1"),
                owned("DELETE FROM notes WHERE owner_id = ?1"),
                owned("DELETE FROM sign_in_links WHERE user_id = ?1"),
                owned("DELETE FROM passkeys WHERE user_id = ?1"),
                owned(concat!(
                    "DELETE FROM users WHERE id = ?1 RETURNING ",
                    columns!()
                )),
            ])
            .await?;
        results.into_iter().last().map_or(Ok(None), |r| one(r.rows))
    }

    /// Sets a user's role, ending their sessions for sensitive routes (administration, tests).
    pub async fn set_role(&self, email: &Email, role: Role) -> Result<User, AppError> {
        one(self
            .db
            .rows(stmt(
                concat!(
                 "UPDATE users SET role = ?2, session_epoch = session_epoch + 1 WHERE email = ?1 RETURNING ",
                 columns!()
                 ),
                [email.as_str().into(), role.as_str().into()],
            ))
            .await?)?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound))
    }

    /// Lists users in (created_at, id) order after `after`, at most `limit`.
    pub async fn page(
        &self,
        after: Option<&(u64, UserId)>,
        limit: u32,
    ) -> Result<Vec<User>, AppError> {
        let (created, id) = after.map_or((Value::Integer(-1), Value::from("")), |(c, i)| {
            ((*c).into(), i.as_str().into())
        });
        self.db
            .rows(stmt(
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM users WHERE (created_at, id) > (?1, ?2) ORDER BY created_at, id LIMIT ?3"
                ),
                [created, id, limit.into()],
            ))
            .await?
            .iter()
            .map(|r| User::from_row(r).map_err(AppError::from))
            .collect()
    }
}

/// E-mail sign-in links (`sign_in_links`), filed under the SHA-256 of their token.
pub struct SignInLinks<'a> {
    db: &'a Db,
}

impl<'a> SignInLinks<'a> {
    pub fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// Files a link to `user_id`'s account under `key` until `expires_at`, and clears the
    /// links that have expired by `now`. With no account it files a decoy, which signs in to
    /// nothing, so the database does the same work for every address.
    pub async fn file(
        &self,
        key: &str,
        user_id: Option<&UserId>,
        expires_at: u64,
        now: u64,
    ) -> Result<(), AppError> {
        self.db
            .batch(vec![
                stmt(
                    "DELETE FROM sign_in_links WHERE expires_at <= ?1",
                    [now.into()],
                ),
                stmt(
                    "INSERT INTO sign_in_links (key, user_id, expires_at) VALUES (?1, ?2, ?3)",
                    [
                        key.into(),
                        user_id.map(UserId::as_str).into(),
                        expires_at.into(),
                    ],
                ),
            ])
            .await?;
        Ok(())
    }

    /// Spends the link filed under `key`: its account, when it is filed to one and has not
    /// expired by `now`. Spending one link spends every other link of its account too (a
    /// sign-in leaves no older link working). One statement reads and deletes them, so of any
    /// number of requests racing for one account's links exactly one gets the account.
    pub async fn take(&self, key: &str, now: u64) -> Result<Option<UserId>, AppError> {
        let rows = self
            .db
            .rows(stmt(
                "DELETE FROM sign_in_links WHERE user_id = \
                 (SELECT user_id FROM sign_in_links WHERE key = ?1 AND expires_at > ?2) \
                 RETURNING user_id",
                [key.into(), now.into()],
            ))
            .await?;
        match rows.first() {
            Some(row) => Ok(Some(row.parsed("user_id", UserId::parse)?)),
            None => Ok(None),
        }
    }
}
