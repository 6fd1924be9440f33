//! The scheduled clean-up (the Cron Trigger in `wrangler.toml`): deletes the rows that have
//! expired from the tables whose rows carry an `expires_at`. Requests already clear what they
//! pass (an owner's expired idempotency keys on its next keyed create, expired links and
//! challenges whenever one is filed), so this only reaches what nobody comes back for: the
//! last day's idempotency keys of an owner who stopped posting, the last links and
//! challenges of a quiet site.

use crate::db::{stmt, Database, DbError, Value};
use crate::http::log::rfc3339_ms;

/// The tables cleared, each with the statement that deletes up to `?2` of its rows expired
/// at `?1` (Unix ms). Each table has an index on `expires_at`, so a round reads only the
/// rows it deletes.
const EXPIRING: [(&str, &str); 3] = [
    (
        "idempotency_keys",
        "DELETE FROM idempotency_keys WHERE rowid IN \
         (SELECT rowid FROM idempotency_keys WHERE expires_at <= ?1 LIMIT ?2)",
    ),
    (
        "sign_in_links",
        "DELETE FROM sign_in_links WHERE rowid IN \
         (SELECT rowid FROM sign_in_links WHERE expires_at <= ?1 LIMIT ?2)",
    ),
    (
        "webauthn_challenges",
        "DELETE FROM webauthn_challenges WHERE rowid IN \
         (SELECT rowid FROM webauthn_challenges WHERE expires_at <= ?1 LIMIT ?2)",
    ),
];

/// Rows a table loses per round: each round is one short write, well inside D1's limit on
/// how long a query may run, and leaves the database to the requests in between.
pub const ROWS_PER_ROUND: u64 = 5_000;

/// Rounds per run (one subrequest each, inside the free plan's 50). What is left waits for
/// the next run, and the log line says so.
pub const MAX_ROUNDS: u32 = 20;

/// What a run did: how many rows each table lost, in how many rounds, and whether it
/// stopped at [`MAX_ROUNDS`] with expired rows left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    pub tables: Vec<(&'static str, u64)>,
    pub rounds: u32,
    pub more: bool,
}

impl Purged {
    /// The run's log line:
    /// `{"time","level","event":"purge",<table>: <rows>…,"rounds","more"}`.
    pub fn to_line(&self, now: u64) -> String {
        let mut line = serde_json::Map::new();
        line.insert("time".into(), rfc3339_ms(now).into());
        line.insert("level".into(), "info".into());
        line.insert("event".into(), "purge".into());
        for (table, rows) in &self.tables {
            line.insert((*table).into(), (*rows).into());
        }
        line.insert("rounds".into(), self.rounds.into());
        line.insert("more".into(), self.more.into());
        serde_json::Value::Object(line).to_string()
    }
}

/// Deletes the rows that have expired by `now` (Unix ms), `per_round` rows per table at a
/// time, one batch per round, until no table fills its round or [`MAX_ROUNDS`] have run.
pub async fn purge<D: Database>(db: &D, now: u64, per_round: u64) -> Result<Purged, DbError> {
    let mut purged = Purged {
        tables: EXPIRING.iter().map(|(table, _)| (*table, 0)).collect(),
        rounds: 0,
        more: false,
    };
    let mut open: Vec<usize> = (0..EXPIRING.len()).collect();
    while !open.is_empty() {
        if purged.rounds == MAX_ROUNDS {
            purged.more = true;
            break;
        }
        let round = open
            .iter()
            .map(|&i| stmt(EXPIRING[i].1, [Value::from(now), per_round.into()]))
            .collect();
        let results = db.batch(round).await?;
        purged.rounds += 1;
        let mut full = Vec::with_capacity(open.len());
        for (&i, result) in open.iter().zip(results) {
            purged.tables[i].1 += result.rows_affected;
            if result.rows_affected >= per_round {
                full.push(i);
            }
        }
        open = full;
    }
    Ok(purged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{QueryResult, Statement};
    use futures_util::FutureExt;
    use std::cell::RefCell;

    /// Expired rows per table, in [`EXPIRING`]'s order; each statement deletes up to its
    /// limit, as SQLite does. Records the size of every batch.
    struct Tables {
        expired: RefCell<Vec<u64>>,
        batches: RefCell<Vec<usize>>,
        fail_at_batch: Option<usize>,
    }

    impl Tables {
        fn new(expired: &[u64]) -> Self {
            Self {
                expired: RefCell::new(expired.to_vec()),
                batches: RefCell::new(Vec::new()),
                fail_at_batch: None,
            }
        }
    }

    impl Database for Tables {
        async fn execute(&self, _: Statement) -> Result<QueryResult, DbError> {
            unreachable!("the purge runs in batches")
        }

        async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<QueryResult>, DbError> {
            let mut batches = self.batches.borrow_mut();
            if self.fail_at_batch == Some(batches.len()) {
                return Err(DbError::Unavailable("gone".into()));
            }
            batches.push(statements.len());
            let mut expired = self.expired.borrow_mut();
            Ok(statements
                .iter()
                .map(|statement| {
                    let table = EXPIRING
                        .iter()
                        .position(|(_, sql)| *sql == statement.sql)
                        .expect("a purge statement");
                    let Value::Integer(limit) = statement.args[1] else {
                        panic!("the limit is an integer")
                    };
                    let deleted = expired[table].min(limit as u64);
                    expired[table] -= deleted;
                    QueryResult {
                        rows: Vec::new(),
                        rows_affected: deleted,
                    }
                })
                .collect())
        }

        fn bookmark(&self) -> Option<String> {
            None
        }
    }

    fn run(db: &Tables, per_round: u64) -> Result<Purged, DbError> {
        purge(db, 0, per_round)
            .now_or_never()
            .expect("the fake never waits")
    }

    #[test]
    fn a_table_with_more_than_a_round_is_cleared_in_further_rounds_alone() {
        let db = Tables::new(&[12, 3, 0]);
        let purged = run(&db, 5).unwrap();
        assert_eq!(
            purged,
            Purged {
                tables: vec![
                    ("idempotency_keys", 12),
                    ("sign_in_links", 3),
                    ("webauthn_challenges", 0)
                ],
                rounds: 3,
                more: false,
            }
        );
        assert_eq!(*db.expired.borrow(), [0, 0, 0]);
        // Only the table that filled its round goes on.
        assert_eq!(*db.batches.borrow(), [3, 1, 1]);
    }

    #[test]
    fn a_round_filled_exactly_is_followed_by_one_that_finds_nothing() {
        let db = Tables::new(&[5, 0, 0]);
        let purged = run(&db, 5).unwrap();
        assert_eq!(
            (purged.tables[0].1, purged.rounds, purged.more),
            (5, 2, false)
        );
    }

    #[test]
    fn a_run_stops_after_its_rounds_and_says_rows_are_left() {
        let per_round = 10;
        let db = Tables::new(&[per_round * u64::from(MAX_ROUNDS) + 1, 1, 0]);
        let purged = run(&db, per_round).unwrap();
        assert_eq!(purged.rounds, MAX_ROUNDS);
        assert!(purged.more);
        assert_eq!(purged.tables[0].1, per_round * u64::from(MAX_ROUNDS));
        assert_eq!(*db.expired.borrow(), [1, 0, 0]);
        let line: serde_json::Value = serde_json::from_str(&purged.to_line(0)).unwrap();
        assert_eq!((&line["rounds"], &line["more"]), (&20.into(), &true.into()));
    }

    #[test]
    fn a_failed_round_fails_the_run() {
        let mut db = Tables::new(&[12, 0, 0]);
        db.fail_at_batch = Some(1);
        assert_eq!(run(&db, 5), Err(DbError::Unavailable("gone".into())));
        assert_eq!(*db.batches.borrow(), [3]);
    }

    #[test]
    fn the_line_names_each_table_and_its_rows() {
        let purged = Purged {
            tables: vec![("idempotency_keys", 3), ("sign_in_links", 0)],
            rounds: 1,
            more: false,
        };
        let line: serde_json::Value = serde_json::from_str(&purged.to_line(0)).unwrap();
        assert_eq!(
            line,
            serde_json::json!({"time": "1970-01-01T00:00:00.000Z", "level": "info",
                "event": "purge", "idempotency_keys": 3, "sign_in_links": 0, "rounds": 1,
                "more": false})
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
            assert!(sql.starts_with(&format!("DELETE FROM {table} WHERE rowid IN")));
            assert!(sql.contains(&format!("FROM {table} WHERE expires_at <= ?1 LIMIT ?2)")));
            // The round reads through an index, not the whole table.
            assert!(
                migrations.contains(&format!("ON {table} (expires_at)")),
                "{table} has no index on expires_at"
            );
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
