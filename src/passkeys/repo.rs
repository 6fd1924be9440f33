//! The passkeys table, over the database port. Queries that touch one passkey name its owner,
//! so another account's passkey is indistinguishable from a missing one.

use super::Passkey;
use crate::accounts::repo::Users;
use crate::accounts::User;
use crate::auth::webauthn::{aaguid_string, b64, b64_encode, NewCredential};
use crate::db::{stmt, Database, Db, DbError, Row, Statement, Value};
use crate::domain::{Email, PasskeyId, UserId};
use crate::error::{AppError, ErrorCode};

/// The passkey columns, for `concat!` into static SQL.
macro_rules! columns {
    () => {
        "id, user_id, credential_id, public_key, algorithm, sign_count, transports, aaguid, \
         backup_eligible, backed_up, name, created_at, last_used_at"
    };
}

impl Passkey {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let protocol = |column: &str| DbError::Protocol(format!("column {column}"));
        let transports: Vec<String> =
            serde_json::from_str(&row.text("transports")?).map_err(|_| protocol("transports"))?;
        Ok(Self {
            id: row.parsed("id", PasskeyId::parse)?,
            user_id: row.parsed("user_id", UserId::parse)?,
            credential_id: row.text("credential_id")?,
            public_key: b64(&row.text("public_key")?).map_err(|_| protocol("public_key"))?,
            algorithm: row.int("algorithm")?,
            sign_count: u32::try_from(row.uint("sign_count")?)
                .map_err(|_| protocol("sign_count"))?,
            transports,
            aaguid: row.text("aaguid")?,
            backup_eligible: row.int("backup_eligible")? != 0,
            backed_up: row.int("backed_up")? != 0,
            name: row.text("name")?,
            created_at: row.uint("created_at")?,
            last_used_at: row.opt_uint("last_used_at")?,
        })
    }
}

fn all(rows: Vec<Row>) -> Result<Vec<Passkey>, AppError> {
    rows.iter()
        .map(|r| Passkey::from_row(r).map_err(AppError::from))
        .collect()
}

fn first(rows: Vec<Row>) -> Result<Option<Passkey>, AppError> {
    Ok(all(rows)?.into_iter().next())
}

/// A credential registered twice (the authenticator already holds one for this account or
/// another): 409.
pub fn duplicate(err: DbError) -> AppError {
    match err {
        DbError::UniqueViolation(cause) => AppError::new(ErrorCode::Conflict)
            .with_message("This passkey is already registered.")
            .with_cause(cause),
        e => e.into(),
    }
}

/// The passkeys table.
pub struct Passkeys<'a> {
    db: &'a Db,
}

impl<'a> Passkeys<'a> {
    /// Uses `db`.
    pub fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// The statement storing a newly registered credential for `user_id`, for a batch.
    pub fn insert_statement(
        id: &PasskeyId,
        user_id: &UserId,
        cred: &NewCredential,
        name: &str,
        now: u64,
    ) -> Statement {
        let transports = serde_json::to_string(&cred.transports).unwrap_or_else(|_| "[]".into());
        stmt(
            concat!(
                "INSERT INTO passkeys (",
                columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL) RETURNING ",
                columns!()
            ),
            [
                id.as_str().into(),
                user_id.as_str().into(),
                b64_encode(&cred.credential_id).into(),
                b64_encode(&cred.public_key_cose).into(),
                cred.algorithm.into(),
                cred.sign_count.into(),
                transports.into(),
                aaguid_string(&cred.aaguid).into(),
                i64::from(cred.backup_eligible).into(),
                i64::from(cred.backed_up).into(),
                name.into(),
                now.into(),
            ],
        )
    }

    /// Stores a credential for an existing account; 409 when it is already registered.
    pub async fn insert(
        &self,
        user_id: &UserId,
        cred: &NewCredential,
        name: &str,
        now: u64,
    ) -> Result<Passkey, AppError> {
        let id = PasskeyId::generate(now);
        let rows = self
            .db
            .rows(Self::insert_statement(&id, user_id, cred, name, now))
            .await
            .map_err(duplicate)?;
        first(rows)?.ok_or_else(|| AppError::internal("INSERT returned no row"))
    }

    /// Creates the account `user_id` (no password) with its first passkey, in one
    /// transaction: 409 when the e-mail was taken since the ceremony began, or the
    /// credential is already registered.
    pub async fn sign_up(
        &self,
        user_id: &UserId,
        email: &Email,
        cred: &NewCredential,
        name: &str,
        now: u64,
    ) -> Result<(User, Passkey), AppError> {
        let passkey_id = PasskeyId::generate(now);
        let results = self
            .db
            .batch(vec![
                Users::insert_statement(user_id, email, "", now),
                Self::insert_statement(&passkey_id, user_id, cred, name, now),
            ])
            .await
            .map_err(|err| match err {
                DbError::UniqueViolation(cause) if cause.contains("passkeys") => {
                    duplicate(DbError::UniqueViolation(cause))
                }
                err => crate::accounts::repo::insert_error(err),
            })?;
        let mut results = results.into_iter();
        let user = results
            .next()
            .map(|r| crate::accounts::repo::one(r.rows))
            .transpose()?
            .flatten();
        let passkey = results.next().map(|r| first(r.rows)).transpose()?.flatten();
        user.zip(passkey)
            .ok_or_else(|| AppError::internal("INSERT returned no row"))
    }

    /// The account's passkeys, oldest first.
    pub async fn of_user(&self, user_id: &UserId) -> Result<Vec<Passkey>, AppError> {
        all(self
            .db
            .rows(stmt(
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM passkeys WHERE user_id = ?1 ORDER BY created_at, id"
                ),
                [user_id.as_str().into()],
            ))
            .await?)
    }

    /// The account with this address and its passkeys, oldest first, in one query: `None`
    /// when no account has it. An address with or without an account costs the database
    /// the same one statement, so the sign-in options cannot tell them apart by it.
    pub async fn of_address(
        &self,
        email: &Email,
    ) -> Result<Option<(UserId, Vec<Passkey>)>, AppError> {
        let rows = self
            .db
            .rows(stmt(
                concat!(
                    "SELECT account, ",
                    columns!(),
                    " FROM (SELECT id AS account FROM users WHERE email = ?1) \
                     LEFT JOIN passkeys ON user_id = account ORDER BY created_at, id"
                ),
                [email.as_str().into()],
            ))
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let account = first.parsed("account", UserId::parse)?;
        let mut passkeys = Vec::with_capacity(rows.len());
        for row in &rows {
            if !row.is_null("id")? {
                passkeys.push(Passkey::from_row(row)?);
            }
        }
        Ok(Some((account, passkeys)))
    }

    /// The passkey an assertion names by its credential id (base64url), and its owner: one
    /// round trip.
    pub async fn with_owner(
        &self,
        credential_id: &str,
    ) -> Result<Option<(Passkey, User)>, AppError> {
        let results = self
            .db
            .batch(vec![
                stmt(
                    concat!(
                        "SELECT ",
                        columns!(),
                        " FROM passkeys WHERE credential_id = ?1"
                    ),
                    [credential_id.into()],
                ),
                Users::owner_of_credential_statement(credential_id),
            ])
            .await?;
        let mut results = results.into_iter();
        let passkey = results.next().map(|r| first(r.rows)).transpose()?.flatten();
        let owner = results
            .next()
            .map(|r| crate::accounts::repo::one(r.rows))
            .transpose()?
            .flatten();
        Ok(passkey.zip(owner))
    }

    /// Records a verified assertion: the new counter and backup state, and the time. The
    /// update applies only while the stored counter is still below the new one (or both are
    /// zero), so two assertions racing with one counter value cannot both count.
    pub async fn record_use(
        &self,
        passkey: &Passkey,
        sign_count: u32,
        backed_up: bool,
        now: u64,
    ) -> Result<bool, AppError> {
        let result = self
            .db
            .rows(stmt(
                "UPDATE passkeys SET sign_count = ?2, backed_up = ?3, last_used_at = ?4 \
                 WHERE id = ?1 AND (sign_count < ?2 OR (sign_count = 0 AND ?2 = 0)) RETURNING id",
                [
                    passkey.id.as_str().into(),
                    sign_count.into(),
                    i64::from(backed_up).into(),
                    now.into(),
                ],
            ))
            .await?;
        Ok(!result.is_empty())
    }

    /// Renames one of the account's passkeys; `None` when it has no such passkey.
    pub async fn rename(
        &self,
        user_id: &UserId,
        id: &PasskeyId,
        name: &str,
    ) -> Result<Option<Passkey>, AppError> {
        first(
            self.db
                .rows(stmt(
                    concat!(
                        "UPDATE passkeys SET name = ?3 WHERE id = ?1 AND user_id = ?2 RETURNING ",
                        columns!()
                    ),
                    [id.as_str().into(), user_id.as_str().into(), name.into()],
                ))
                .await?,
        )
    }

    /// Deletes one of the account's passkeys unless it is the last way to sign in: the
    /// account keeps another passkey, or a password while `password_counts`. One statement,
    /// so two deletions racing cannot both remove "the other one".
    pub async fn delete(
        &self,
        user_id: &UserId,
        id: &PasskeyId,
        password_counts: bool,
    ) -> Result<Deleted, AppError> {
        let deleted = self
            .db
            .rows(stmt(
                "DELETE FROM passkeys WHERE id = ?1 AND user_id = ?2 AND ( \
                   (SELECT COUNT(*) FROM passkeys WHERE user_id = ?2) > 1 \
                   OR (?3 = 1 AND (SELECT password_hash FROM users WHERE id = ?2) <> '') \
                 ) RETURNING name",
                [
                    id.as_str().into(),
                    user_id.as_str().into(),
                    Value::Integer(i64::from(password_counts)),
                ],
            ))
            .await?;
        if let Some(row) = deleted.first() {
            return Ok(Deleted::Yes {
                name: row.text("name")?,
            });
        }
        let exists = self
            .db
            .rows(stmt(
                "SELECT id FROM passkeys WHERE id = ?1 AND user_id = ?2",
                [id.as_str().into(), user_id.as_str().into()],
            ))
            .await?;
        Ok(if exists.is_empty() {
            Deleted::NotFound
        } else {
            Deleted::LastWayIn
        })
    }
}

/// What a deletion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// Removed; its name, for the owner's notice.
    Yes {
        name: String,
    },
    NotFound,
    /// Refused: it is the account's last way to sign in.
    LastWayIn,
}

/// The ceremonies' challenges ([`crate::auth::one_time::OneTimeStore`]), in the
/// `webauthn_challenges` table.
pub struct Challenges<'a> {
    db: &'a Db,
}

impl<'a> Challenges<'a> {
    pub fn new(db: &'a Db) -> Self {
        Self { db }
    }
}

impl crate::auth::one_time::OneTimeStore for Challenges<'_> {
    async fn put(&self, key: &str, value: &str, expires_at: u64, now: u64) -> Result<(), AppError> {
        self.db
            .batch(vec![
                stmt(
                    "DELETE FROM webauthn_challenges WHERE expires_at <= ?1",
                    [now.into()],
                ),
                stmt(
                    "INSERT INTO webauthn_challenges (key, ceremony, expires_at) VALUES (?1, ?2, ?3)",
                    [key.into(), value.into(), expires_at.into()],
                ),
            ])
            .await?;
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<String>, AppError> {
        let rows = self
            .db
            .rows(stmt(
                "DELETE FROM webauthn_challenges WHERE key = ?1 RETURNING ceremony",
                [key.into()],
            ))
            .await?;
        rows.first()
            .map(|row| row.text("ceremony").map_err(AppError::from))
            .transpose()
    }
}
