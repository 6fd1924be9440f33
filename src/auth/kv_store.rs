//! The [`SessionStore`] adapter for Workers KV.
//!
//! Layout: `session:<sha256 of token>` holds the JSON record; `user-sessions:<user>:<id>`
//! indexes it for "list my sessions" and "log out everywhere", with the record key and the
//! listed fields in the key's metadata so one `list` call answers without reading records. Both keys expire
//! with the session (`expirationTtl`), so abandoned sessions vanish on their own.

use super::session::{IndexEntry, Session, SessionStore, SessionSummary};
use super::session_cache;
use crate::domain::{SessionId, UserId};
use crate::error::AppError;
use serde::{Deserialize, Serialize};
use worker::kv::KvStore;

/// The metadata of an index key.
#[derive(Serialize, Deserialize)]
struct IndexMeta {
    key: String,
    #[serde(flatten)]
    summary: SessionSummary,
}

/// Sessions in a KV namespace, with the isolate's short-lived copy in front of reads
/// ([`super::session_cache`]).
pub struct KvSessions {
    kv: KvStore,
    /// How long a record read or written here is served from the isolate's copy (0: never).
    cache_ms: u64,
}

impl KvSessions {
    /// Wraps the namespace bound as `binding`.
    pub fn new(env: &worker::Env, binding: &str, cache_ms: u64) -> Result<Self, AppError> {
        let kv = env
            .kv(binding)
            .map_err(|e| AppError::internal(format!("KV binding {binding}: {e}")))?;
        Ok(Self { kv, cache_ms })
    }
}

impl KvSessions {
    /// Reads one key, to prove the namespace answers (readiness).
    pub async fn probe(&self) -> Result<(), String> {
        self.kv
            .get("readiness-probe")
            .text()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn index_prefix(user_id: &UserId) -> String {
    format!("user-sessions:{user_id}:")
}

fn kv_error(op: &str, err: impl std::fmt::Display) -> AppError {
    AppError::unavailable(format!("KV {op}: {err}"), 1)
}

impl SessionStore for KvSessions {
    async fn load(&self, key: &str) -> Result<Option<Session>, AppError> {
        let now = if self.cache_ms > 0 {
            crate::ids::now_ms()
        } else {
            0
        };
        if let Some(copy) = session_cache::with(|c| c.get(key, now, self.cache_ms)) {
            return Ok(Some(copy));
        }
        let text = self
            .kv
            .get(key)
            .text()
            .await
            .map_err(|e| kv_error("get", e))?;
        // A record that does not decode is treated as absent: it was not written by this code.
        let found: Option<Session> = text.and_then(|t| serde_json::from_str(&t).ok());
        if let (Some(session), true) = (&found, self.cache_ms > 0) {
            session_cache::with(|c| c.put(key, session, now, self.cache_ms));
        }
        Ok(found)
    }

    async fn save(&self, key: &str, session: &Session, now: u64) -> Result<(), AppError> {
        if self.cache_ms > 0 {
            let at = crate::ids::now_ms();
            session_cache::with(|c| c.put(key, session, at, self.cache_ms));
        }
        let ttl = session.ttl_secs(now);
        let record = serde_json::to_string(session).map_err(AppError::internal)?;
        self.kv
            .put(key, record)
            .map_err(|e| kv_error("put", e))?
            .expiration_ttl(ttl)
            .execute()
            .await
            .map_err(|e| kv_error("put", e))?;
        let index_key = format!("{}{}", index_prefix(&session.user_id), session.id);
        self.kv
            .put(&index_key, "")
            .map_err(|e| kv_error("put", e))?
            .expiration_ttl(ttl)
            .metadata(IndexMeta {
                key: key.to_owned(),
                summary: session.into(),
            })
            .map_err(|e| kv_error("put", e))?
            .execute()
            .await
            .map_err(|e| kv_error("put", e))
    }

    async fn remove(
        &self,
        key: &str,
        user_id: &UserId,
        session_id: &SessionId,
    ) -> Result<(), AppError> {
        session_cache::with(|c| c.remove(key));
        let index_key = format!("{}{session_id}", index_prefix(user_id));
        let (a, b) = futures_util::join!(self.kv.delete(key), self.kv.delete(&index_key));
        a.and(b).map_err(|e| kv_error("delete", e))
    }

    async fn list(&self, user_id: &UserId) -> Result<Vec<IndexEntry>, AppError> {
        let prefix = index_prefix(user_id);
        let mut entries = Vec::new();
        let mut cursor = None;
        loop {
            let mut req = self.kv.list().prefix(prefix.clone());
            if let Some(c) = cursor.take() {
                req = req.cursor(c);
            }
            let page = req.execute().await.map_err(|e| kv_error("list", e))?;
            entries.extend(page.keys.into_iter().filter_map(|key| {
                let meta: IndexMeta = serde_json::from_value(key.metadata?).ok()?;
                Some(IndexEntry {
                    storage_key: meta.key,
                    summary: meta.summary,
                })
            }));
            if page.list_complete || page.cursor.is_none() {
                return Ok(entries);
            }
            cursor = page.cursor;
        }
    }
}
