//! A cached response and its L2 form.

/// A cached response: the body and its validator, with the user version it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub version: i64,
    pub fresh_until: u64,
    pub stale_until: u64,
    pub etag: Option<String>,
    pub body: String,
}

impl Entry {
    /// Bytes held, for the L1 bound.
    pub fn size(&self) -> usize {
        self.body.len() + self.etag.as_ref().map_or(0, String::len)
    }

    pub(super) fn fresh(&self, version: i64, now: u64) -> bool {
        self.version == version && now < self.fresh_until
    }

    pub(super) fn usable_stale(&self, version: i64, now: u64) -> bool {
        self.version == version && now < self.stale_until
    }

    /// The L2 form: `<version>|<fresh_until>|<stale_until>|<etag>|<body>`.
    pub fn encode(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.version,
            self.fresh_until,
            self.stale_until,
            self.etag.as_deref().unwrap_or(""),
            self.body
        )
    }

    /// Reads the L2 form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.splitn(5, '|');
        let version = parts.next()?.parse().ok()?;
        let fresh_until = parts.next()?.parse().ok()?;
        let stale_until = parts.next()?.parse().ok()?;
        let etag = parts.next()?;
        let body = parts.next()?;
        if fresh_until > stale_until || body.is_empty() {
            return None;
        }
        Some(Self {
            version,
            fresh_until,
            stale_until,
            etag: (!etag.is_empty()).then(|| etag.to_owned()),
            body: body.to_owned(),
        })
    }
}

/// What a loader found: a body worth caching (a missing row is `None` and is not cached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    pub etag: Option<String>,
    pub body: String,
}

/// The hex SHA-256 prefix used to name a list page by its parameters.
pub fn digest_key(parts: &str) -> String {
    crate::auth::token::digest_hex(parts.as_bytes())[..32].to_owned()
}
