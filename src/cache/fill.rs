//! Filling an entry through L2: the lookup (version and entry in one round trip), the
//! user's version counter, the refill with its cross-isolate lock, and entry decoding.

use super::remote::{Remote, RemoteError, Reply};
use super::*;
use crate::cmd;
use std::rc::Rc;

impl<R: Remote, C: Clock> Cache<'_, R, C> {
    /// One round trip: the user's version, and the entry unless L1 has one.
    pub(super) async fn lookup(&self, remote: &R, key: &str) -> Result<Lookup, RemoteError> {
        self.deliver_pending(remote).await?;
        let now = self.clock.now();
        let local = self.isolate(|i| i.l1.get(key, now));
        let mut commands = vec![cmd!("GET", self.version_key())];
        if local.is_none() {
            commands.push(cmd!("GET", key));
        }
        let replies = remote.pipeline(&commands).await?;
        let version = match &replies[0] {
            Reply::Nil => self.start_version(remote).await?,
            reply => reply
                .as_int()
                .ok_or_else(|| RemoteError::Protocol(format!("version is {}", reply.kind())))?,
        };
        let now = self.clock.now();
        if let Some(entry) = local.as_ref().filter(|e| e.fresh(version, now)) {
            return Ok(Lookup::Hit(entry.clone(), Outcome::L1Hit));
        }
        let remote_entry = match replies.get(1) {
            Some(reply) => self.decode(remote, key, reply).await?,
            None => None,
        };
        if let Some(entry) = remote_entry.as_ref().filter(|e| e.fresh(version, now)) {
            self.isolate(|i| i.l1.put(key, entry.clone()));
            return Ok(Lookup::Hit(entry.clone(), Outcome::L2Hit));
        }
        let stale = [local, remote_entry]
            .into_iter()
            .flatten()
            .find(|e| e.usable_stale(version, now));
        Ok(Lookup::Refill { version, stale })
    }

    /// Decodes an L2 entry reply; an entry that does not decode is deleted.
    pub(super) async fn decode(
        &self,
        remote: &R,
        key: &str,
        reply: &Reply,
    ) -> Result<Option<Rc<Entry>>, RemoteError> {
        match reply {
            Reply::Nil => Ok(None),
            Reply::Text(text) => match Entry::decode(text) {
                Some(entry) => Ok(Some(Rc::new(entry))),
                None => {
                    self.isolate(|i| i.stats.decode_errors += 1);
                    self.warn("cache_entry_undecodable", key);
                    remote.pipeline(&[cmd!("DEL", key)]).await?;
                    Ok(None)
                }
            },
            other => Err(RemoteError::Protocol(format!("entry is {}", other.kind()))),
        }
    }

    /// Creates the user's version counter at a random value (so a counter that expired and
    /// is created again never repeats an earlier version), or reads the one a concurrent
    /// request created.
    async fn start_version(&self, remote: &R) -> Result<i64, RemoteError> {
        let replies = remote
            .pipeline(&[
                cmd!(
                    "SET",
                    self.version_key(),
                    random_version(),
                    "NX",
                    "PX",
                    VERSION_TTL_MS
                ),
                cmd!("GET", self.version_key()),
            ])
            .await?;
        replies[1]
            .as_int()
            .ok_or_else(|| RemoteError::Protocol(format!("version is {}", replies[1].kind())))
    }

    /// Fills `key` for `version`, with one filler per key in this isolate and, through the
    /// L2 lock, one across isolates.
    pub(super) async fn refill<F, Fut>(
        &self,
        remote: &R,
        key: &str,
        version: i64,
        stale: Option<Rc<Entry>>,
        started: u64,
        load: F,
    ) -> Result<Read, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Fill>, AppError>>,
    {
        let flight = format!("{key}#{version}");
        let busy = self.isolate(|i| i.inflight.contains(&flight));
        if busy {
            if let Some(entry) = stale {
                self.finish(Outcome::Stale, started, 0, None);
                return Ok(Some(entry));
            }
            if let Some(entry) = self.join_local(key, &flight, version, started).await {
                return Ok(Some(entry));
            }
        }
        let _flight = Flight::start(self.config, flight);
        let now = self.clock.now();
        let filled = self.isolate(|i| i.l1.get(key, now));
        if let Some(entry) = filled.filter(|e| e.fresh(version, now)) {
            self.finish(Outcome::Coalesced, started, 0, None);
            return Ok(Some(entry));
        }

        match self
            .lock_or_find(remote, key, version, stale.is_some())
            .await
        {
            Ok(Found::Entry(entry)) => {
                self.isolate(|i| i.l1.put(key, entry.clone()));
                self.finish(Outcome::Coalesced, started, 0, None);
                return Ok(Some(entry));
            }
            Ok(Found::Busy) => {
                if let Some(entry) = stale {
                    self.finish(Outcome::Stale, started, 0, None);
                    return Ok(Some(entry));
                }
            }
            Ok(Found::Locked) => {}
            Err(err) => {
                let reason = self.remote_failed(&err);
                return self.bypass(started, Some(reason), load).await;
            }
        }

        let (result, load_ms) = self.load(load).await;
        let Some(fill) = result? else {
            self.finish(Outcome::Miss, started, load_ms, None);
            return Ok(None);
        };
        let entry = Rc::new(self.entry(fill, version, self.config.ttl_ms, self.config.stale_ms));
        self.isolate(|i| i.l1.put(key, entry.clone()));
        let encoded = entry.encode();
        let error = if encoded.len() > MAX_L2_ENTRY_BYTES {
            None // served, but too large to be worth a round trip every time it is read
        } else {
            let px = self.config.ttl_ms + self.config.stale_ms;
            let stored = remote
                .pipeline(&[cmd!("SET", key, encoded, "PX", px)])
                .await;
            stored.err().map(|e| self.remote_failed(&e))
        };
        self.finish(Outcome::Miss, started, load_ms, error);
        Ok(Some(entry))
    }

    /// Takes the refill lock for `key` at `version`, looking at the entry in the same round
    /// trip. When another isolate holds the lock and there is nothing stale to serve, polls
    /// briefly for its entry.
    async fn lock_or_find(
        &self,
        remote: &R,
        key: &str,
        version: i64,
        have_stale: bool,
    ) -> Result<Found, RemoteError> {
        let lock = format!("{key}#{version}:lock");
        let replies = remote
            .pipeline(&[
                cmd!("SET", lock, self.token, "NX", "PX", LOCK_MS),
                cmd!("GET", key),
            ])
            .await?;
        let now = self.clock.now();
        if let Some(entry) = self.decode(remote, key, &replies[1]).await? {
            if entry.fresh(version, now) {
                return Ok(Found::Entry(entry));
            }
        }
        if replies[0] != Reply::Nil {
            return Ok(Found::Locked);
        }
        if have_stale {
            return Ok(Found::Busy);
        }
        for _ in 0..REMOTE_POLLS {
            self.clock.sleep(REMOTE_POLL_MS).await;
            let reply = remote.pipeline(&[cmd!("GET", key)]).await?;
            let now = self.clock.now();
            if let Some(entry) = self.decode(remote, key, &reply[0]).await? {
                if entry.fresh(version, now) {
                    return Ok(Found::Entry(entry));
                }
            }
        }
        // The holder did not fill in time: load without waiting longer.
        Ok(Found::Locked)
    }
}

pub(super) enum Lookup {
    Hit(Rc<Entry>, Outcome),
    Refill {
        version: i64,
        stale: Option<Rc<Entry>>,
    },
}

enum Found {
    /// Another isolate filled the entry.
    Entry(Rc<Entry>),
    /// This request holds the lock (or gave up waiting for its holder): load.
    Locked,
    /// Another isolate holds the lock; a stale entry can be served meanwhile.
    Busy,
}

/// A starting version: random, below 2^52 so it stays exact everywhere.
pub(super) fn random_version() -> i64 {
    let bytes = crate::ids::random_bytes::<8>();
    (i64::from_le_bytes(bytes) & ((1 << 52) - 1)).max(1)
}
