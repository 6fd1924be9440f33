//! HTTP glue that needs no runtime: methods, responses, JSON bodies, request ids, tracing,
//! CORS, security headers and the per-request log line.
//!
//! Keeping these pure means the whole pipeline policy is unit-tested natively; the
//! pipeline's edge ([`crate::pipeline`]) only moves bytes and headers in and out of `worker`
//! types.

pub mod conditional;
#[cfg(not(target_arch = "wasm32"))]
pub mod contract;
pub mod cors;
pub mod cursor;
pub mod date;
pub mod input;
pub mod json;
pub mod log;
pub mod page;
pub mod query;
pub mod request_id;
pub mod security;
pub mod trace;

use serde::Serialize;

/// Test environments may move the request's clock forward by this many milliseconds, so
/// expiry rules are tested without waiting. Ignored unless `TEST_ROUTES` is on (which
/// configuration refuses in production).
pub const CLOCK_ADVANCE_HEADER: &str = "x-test-clock-advance-ms";

/// Response headers as (name, value) pairs. Names are static: the API only sends headers it
/// knows about. Values are borrowed when constant (the security headers, `Vary`, the content
/// type), so only the values made per request are allocated.
pub type Headers = Vec<(&'static str, HeaderValue)>;

/// A response header's value: a constant, or one made for this response.
pub type HeaderValue = std::borrow::Cow<'static, str>;

/// The HTTP methods the API routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl Method {
    /// Parses a method token; methods the API never routes return `None`.
    pub fn parse(token: &str) -> Option<Self> {
        Some(match token {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            _ => return None,
        })
    }

    /// Returns the method token, e.g. `"GET"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
        }
    }

    /// Returns true for methods that must not change state (RFC 9110 §9.2.1).
    pub const fn is_safe(self) -> bool {
        matches!(self, Self::Get | Self::Head | Self::Options)
    }
}

/// A response before it is handed to the runtime: status, headers and body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// Builds a JSON response from any serialisable value.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Result<Self, crate::AppError> {
        let body = serde_json::to_vec(value).map_err(crate::AppError::internal)?;
        Ok(Self {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body,
        })
    }

    /// Builds an empty response, e.g. 204 No Content.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Builds the structured error response for `err`. Every 401 carries a challenge (RFC 9110
    /// §15.5.2 requires one): the error's own, or `Bearer`, the scheme protected routes accept
    /// in `Authorization` (RFC 6750 §3: no error code when no credentials were sent).
    pub fn from_error(err: &crate::AppError, request_id: &str) -> Self {
        let mut headers: Headers = vec![("Content-Type", "application/json".into())];
        headers.extend(err.headers().iter().cloned());
        let challenged = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"));
        if err.status() == 401 && !challenged {
            headers.push(("WWW-Authenticate", "Bearer".into()));
        }
        Self {
            status: err.status(),
            headers,
            body: err.to_body(request_id),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: &'static str, value: impl Into<HeaderValue>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Returns the first value of a header, ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AppError, ErrorCode};

    #[test]
    fn method_tokens_round_trip() {
        for m in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            assert_eq!(Method::parse(m).unwrap().as_str(), m);
        }
        assert_eq!(Method::parse("get"), None);
        assert_eq!(Method::parse("TRACE"), None);
    }

    #[test]
    fn error_response_carries_error_headers() {
        let err = AppError::new(ErrorCode::MethodNotAllowed).with_header("Allow", "GET, HEAD");
        let resp = ApiResponse::from_error(&err, "rid");
        assert_eq!(resp.status, 405);
        assert_eq!(resp.header("allow"), Some("GET, HEAD"));
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(resp.header("www-authenticate"), None);
    }

    #[test]
    fn every_401_carries_one_challenge() {
        let resp = ApiResponse::from_error(&AppError::new(ErrorCode::Unauthenticated), "rid");
        assert_eq!(resp.status, 401);
        assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
        let own = AppError::new(ErrorCode::Unauthenticated)
            .with_header("WWW-Authenticate", r#"Bearer error="invalid_token""#);
        let resp = ApiResponse::from_error(&own, "rid");
        let challenges: Vec<_> = resp
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"))
            .map(|(_, v)| v.as_ref())
            .collect();
        assert_eq!(challenges, [r#"Bearer error="invalid_token""#]);
    }
}
