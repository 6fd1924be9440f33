//! The L2 port: a Redis-like store reached in round trips of several commands.
//!
//! The cache logic in [`super`] speaks only this interface, so it is tested natively against
//! [`tests::MemoryRemote`]; the Upstash REST adapter ([`super::upstash`]) implements it for
//! the Worker.

use std::fmt;

/// One command: its name and arguments, e.g. `["SET", "k", "v", "PX", "1000"]`.
pub type Command = Vec<String>;

/// Builds a [`Command`] from string-like parts.
#[macro_export]
macro_rules! cmd {
    ($($part:expr),+ $(,)?) => { vec![$($part.to_string()),+] };
}

/// One command's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Nil,
    Int(i64),
    Text(String),
    Array(Vec<Reply>),
    /// The store refused this command (the others in the round trip may have run).
    Error(String),
}

impl Reply {
    /// Names the reply's type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Nil => "nil",
            Self::Int(_) => "an integer",
            Self::Text(_) => "text",
            Self::Array(_) => "an array",
            Self::Error(_) => "an error",
        }
    }

    /// Reads an integer reply, or a text reply holding one (Redis `GET` of a counter).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            Self::Text(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// Why a round trip failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteError {
    /// No answer within the deadline.
    Timeout,
    /// Not reachable, or answered with an unusable status.
    Unavailable(String),
    /// Answered, but not in the expected shape.
    Protocol(String),
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => write!(f, "timeout"),
            Self::Unavailable(e) => write!(f, "unavailable: {e}"),
            Self::Protocol(e) => write!(f, "protocol: {e}"),
        }
    }
}

/// A remote store that runs commands in one round trip.
#[allow(async_fn_in_trait)] // single-threaded Wasm: no Send bound wanted
pub trait Remote {
    /// Runs `commands` in order (not atomically), one reply per command.
    async fn pipeline(&self, commands: &[Command]) -> Result<Vec<Reply>, RemoteError>;
    /// Runs `commands` atomically (MULTI/EXEC), one reply per command.
    async fn transaction(&self, commands: &[Command]) -> Result<Vec<Reply>, RemoteError>;
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub mod tests {
    //! An in-memory stand-in for Redis, for the cache's unit tests only; the integration
    //! tests use a real Redis behind the REST front in `tests/support/`.

    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    /// Keeps strings with an expiry time; knows the handful of commands the cache sends.
    #[derive(Default)]
    pub struct MemoryRemote {
        pub data: RefCell<HashMap<String, (String, u64)>>,
        pub now: Cell<u64>,
        pub down: Cell<bool>,
        pub round_trips: Cell<usize>,
        pub log: RefCell<Vec<Command>>,
    }

    impl MemoryRemote {
        fn run(&self, c: &Command) -> Reply {
            self.log.borrow_mut().push(c.clone());
            let now = self.now.get();
            let mut data = self.data.borrow_mut();
            data.retain(|_, (_, until)| *until > now);
            let arg = |i: usize| c.get(i).cloned().unwrap_or_default();
            let px = |c: &Command| {
                c.iter()
                    .position(|a| a == "PX")
                    .and_then(|i| c.get(i + 1))
                    .and_then(|v| v.parse::<u64>().ok())
                    .map_or(u64::MAX, |ms| now + ms)
            };
            match c[0].as_str() {
                "GET" => data
                    .get(&arg(1))
                    .map_or(Reply::Nil, |(v, _)| Reply::Text(v.clone())),
                "SET" => {
                    if c.iter().any(|a| a == "NX") && data.contains_key(&arg(1)) {
                        return Reply::Nil;
                    }
                    data.insert(arg(1), (arg(2), px(c)));
                    Reply::Text("OK".into())
                }
                "DEL" => Reply::Int(i64::from(data.remove(&arg(1)).is_some())),
                "INCR" => {
                    let slot = data.entry(arg(1)).or_insert(("0".into(), u64::MAX));
                    let Ok(n) = slot.0.parse::<i64>() else {
                        return Reply::Error("ERR value is not an integer".into());
                    };
                    slot.0 = (n + 1).to_string();
                    Reply::Int(n + 1)
                }
                "PEXPIRE" => match data.get_mut(&arg(1)) {
                    Some(slot) => {
                        slot.1 = now + arg(2).parse::<u64>().unwrap_or(0);
                        Reply::Int(1)
                    }
                    None => Reply::Int(0),
                },
                other => Reply::Error(format!("ERR unknown command '{other}'")),
            }
        }
    }

    impl Remote for MemoryRemote {
        async fn pipeline(&self, commands: &[Command]) -> Result<Vec<Reply>, RemoteError> {
            self.round_trips.set(self.round_trips.get() + 1);
            if self.down.get() {
                return Err(RemoteError::Timeout);
            }
            Ok(commands.iter().map(|c| self.run(c)).collect())
        }

        async fn transaction(&self, commands: &[Command]) -> Result<Vec<Reply>, RemoteError> {
            self.pipeline(commands).await
        }
    }
}
