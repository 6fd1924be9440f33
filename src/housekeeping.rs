//! The scheduled clean-up (the Cron Trigger in `wrangler.toml`): deletes the rows that have
//! expired from the tables whose rows carry an `expires_at`. Requests already clear what they
//! pass (an owner's expired idempotency keys on its next keyed create, expired links and
//! challenges whenever one is filed), so this only reaches what nobody comes back for: the
//! last day's idempotency keys of an owner who stopped posting, the last links and
//! challenges of a quiet site.

use crate::db::{stmt, Database, Db, DbError};
use crate::http::log::rfc3339_ms;

/// The tables cleared, each with the statement that clears it at `?1` (Unix ms).
const EXPIRING: [(&str, &str); 3] = [
    (
        "idempotency_keys",
        "DELETE FROM idempotency_keys WHERE expires_at <= ?1",
    ),
    (
        "sign_in_links",
        "DELETE FROM sign_in_links WHERE expires_at <= ?1",
    ),
    (
        "webauthn_challenges",
        "DELETE FROM webauthn_challenges WHERE expires_at <= ?1",
    ),
];

/// How many rows each table lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged(pub Vec<(&'static str, u64)>);

impl Purged {
    /// The run's log line: `{"time","level","event":"purge",<table>: <rows>…}`.
    pub fn to_line(&self, now: u64) -> String {
        let mut line = serde_json::Map::new();
        line.insert("time".into(), rfc3339_ms(now).into());
        line.insert("level".into(), "info".into());
        line.insert("event".into(), "purge".into());
        for (table, rows) in &self.0 {
            line.insert((*table).into(), (*rows).into());
        }
        serde_json::Value::Object(line).to_string()
    }
}

/// Deletes every row that has expired by `now` (Unix ms), in one batch.
pub async fn purge(db: &Db, now: u64) -> Result<Purged, DbError> {
    let results = db
        .batch(
            EXPIRING
                .iter()
                .map(|(_, sql)| stmt(sql, [now.into()]))
                .collect(),
        )
        .await?;
    Ok(Purged(
        EXPIRING
            .iter()
            .zip(results)
            .map(|((table, _), result)| (*table, result.rows_affected))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_each_table_and_its_rows() {
        let purged = Purged(vec![("idempotency_keys", 3), ("sign_in_links", 0)]);
        let line: serde_json::Value = serde_json::from_str(&purged.to_line(0)).unwrap();
        assert_eq!(
            line,
            serde_json::json!({"time": "1970-01-01T00:00:00.000Z", "level": "info",
                "event": "purge", "idempotency_keys": 3, "sign_in_links": 0})
        );
    }

    #[test]
    fn every_table_with_an_expiry_is_cleared() {
        let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect::<String>();
        for (table, sql) in EXPIRING {
            assert!(
                migrations.contains(&format!("CREATE TABLE {table} (")),
                "{table}"
            );
            assert!(sql.starts_with(&format!("DELETE FROM {table} WHERE expires_at <=")));
        }
        // A new table with an `expires_at` belongs in the list.
        let with_expiry = migrations
            .split("CREATE TABLE ")
            .skip(1)
            .filter(|t| t.split(';').next().unwrap_or("").contains("expires_at"))
            .count();
        assert_eq!(
            with_expiry,
            EXPIRING.len() + 1,
            "sign_in_links is created twice"
        );
    }
}
