//! The one application error type and the one place that maps it to a status, a code and a body.
//!
//! Every failure a client can see is an [`AppError`]. Its [`ErrorCode`] decides the HTTP
//! status and the stable machine-readable code; the message is written for people and never
//! carries internal detail. Internal causes travel in [`AppError::internal`] and are logged once
//! by the pipeline, never rendered.

use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

/// The most field details an error lists; the message counts the rest, so a body with
/// thousands of bad fields answers with a small error.
pub const MAX_DETAILS: usize = 20;
/// The longest field name echoed in a detail, in characters; longer ones are cut.
pub const MAX_FIELD_CHARS: usize = 64;

/// Stable error codes. Clients may branch on these; renaming one is a breaking change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BadRequest,
    UnsupportedMediaType,
    PayloadTooLarge,
    ValidationError,
    IdempotencyKeyReused,
    Unauthenticated,
    Forbidden,
    CsrfRejected,
    /// The session is too old for this: sign in again first.
    ReauthenticationRequired,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PreconditionFailed,
    RateLimited,
    Internal,
    Unavailable,
}

impl ErrorCode {
    /// Every code, for the API document.
    pub const ALL: [Self; 16] = [
        Self::BadRequest,
        Self::UnsupportedMediaType,
        Self::PayloadTooLarge,
        Self::ValidationError,
        Self::IdempotencyKeyReused,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::CsrfRejected,
        Self::ReauthenticationRequired,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::PreconditionFailed,
        Self::RateLimited,
        Self::Internal,
        Self::Unavailable,
    ];

    /// Returns the HTTP status that goes with this code.
    pub const fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden | Self::CsrfRejected | Self::ReauthenticationRequired => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::PreconditionFailed => 412,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::ValidationError | Self::IdempotencyKeyReused => 422,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// Returns the code as it appears on the wire, e.g. `"VALIDATION_ERROR"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::ValidationError => "VALIDATION_ERROR",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::CsrfRejected => "CSRF_REJECTED",
            Self::ReauthenticationRequired => "REAUTHENTICATION_REQUIRED",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::Conflict => "CONFLICT",
            Self::PreconditionFailed => "PRECONDITION_FAILED",
            Self::RateLimited => "RATE_LIMITED",
            Self::Internal => "INTERNAL",
            Self::Unavailable => "UNAVAILABLE",
        }
    }

    /// Returns the message shown when the error carries none of its own.
    const fn default_message(self) -> &'static str {
        match self {
            Self::BadRequest => "The request could not be understood.",
            Self::UnsupportedMediaType => "The request body must be sent as application/json.",
            Self::PayloadTooLarge => "The request body is too large.",
            Self::ValidationError => "One or more fields are invalid.",
            Self::IdempotencyKeyReused => {
                "This Idempotency-Key was already used with a different request."
            }
            Self::Unauthenticated => "Authentication is required.",
            Self::Forbidden => "You do not have permission to do this.",
            Self::CsrfRejected => "The request origin is not allowed.",
            Self::ReauthenticationRequired => "Sign in again to do this.",
            Self::NotFound => "The requested resource was not found.",
            Self::MethodNotAllowed => "This method is not allowed on this resource.",
            Self::Conflict => "The request conflicts with the current state of the resource.",
            Self::PreconditionFailed => "A precondition of the request was not met.",
            Self::RateLimited => "Too many requests. Try again later.",
            Self::Internal => "An internal error occurred.",
            Self::Unavailable => "The service is temporarily unavailable. Try again later.",
        }
    }
}

/// One problem with one input field, e.g. `{"field":"email","issue":"invalid_format"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldIssue {
    pub field: Cow<'static, str>,
    pub issue: Cow<'static, str>,
}

impl FieldIssue {
    /// Builds an issue for `field` with the stable issue name `issue`.
    pub fn new(field: impl Into<Cow<'static, str>>, issue: impl Into<Cow<'static, str>>) -> Self {
        Self {
            field: field.into(),
            issue: issue.into(),
        }
    }
}

/// The application error: a code, a client-safe message, field details, extra response
/// headers, and (never rendered) the internal cause for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    code: ErrorCode,
    message: Cow<'static, str>,
    details: Vec<FieldIssue>,
    /// Details beyond [`MAX_DETAILS`], counted in the message.
    omitted: usize,
    headers: Vec<(&'static str, Cow<'static, str>)>,
    cause: Option<String>,
}

impl AppError {
    /// Builds an error with the code's default message.
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            message: Cow::Borrowed(code.default_message()),
            details: Vec::new(),
            omitted: 0,
            headers: Vec::new(),
            cause: None,
        }
    }

    /// Builds a 500 INTERNAL whose `cause` goes to the log and never to the client.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::new(ErrorCode::Internal).with_cause(cause)
    }

    /// Builds a 503 UNAVAILABLE with `Retry-After`, logging `cause`.
    pub fn unavailable(cause: impl fmt::Display, retry_after_secs: u32) -> Self {
        Self::new(ErrorCode::Unavailable)
            .with_cause(cause)
            .with_header("Retry-After", retry_after_secs.to_string())
    }

    /// Builds a 422 VALIDATION_ERROR listing every invalid field.
    pub fn validation(details: Vec<FieldIssue>) -> Self {
        Self::new(ErrorCode::ValidationError).with_details(details)
    }

    /// Replaces the client-facing message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// Replaces the field details: at most [`MAX_DETAILS`] are kept (the rest are counted)
    /// and field names are cut at [`MAX_FIELD_CHARS`] characters.
    #[must_use]
    pub fn with_details(mut self, mut details: Vec<FieldIssue>) -> Self {
        self.omitted = details.len().saturating_sub(MAX_DETAILS);
        details.truncate(MAX_DETAILS);
        for d in &mut details {
            if let Some((cut, _)) = d.field.char_indices().nth(MAX_FIELD_CHARS) {
                d.field = Cow::Owned(format!("{}…", &d.field[..cut]));
            }
        }
        self.details = details;
        self
    }

    /// Counts `n` more details that were not collected at all.
    #[must_use]
    pub fn with_omitted(mut self, n: usize) -> Self {
        self.omitted += n;
        self
    }

    /// Adds a response header, e.g. `Allow` on a 405 or `Retry-After` on a 429.
    #[must_use]
    pub fn with_header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Attaches an internal cause for the log line; it is never sent to the client.
    #[must_use]
    pub fn with_cause(mut self, cause: impl fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    /// Returns the stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// Returns the HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// Returns the client-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Returns the field details.
    pub fn details(&self) -> &[FieldIssue] {
        &self.details
    }

    /// Returns the extra headers this error adds to its response.
    pub fn headers(&self) -> &[(&'static str, Cow<'static, str>)] {
        &self.headers
    }

    /// Returns the internal cause, for logging only.
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }

    /// Renders the JSON body `{"error":{"code","message","details","request_id"}}`.
    pub fn to_body(&self, request_id: &str) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'static str,
            message: &'a str,
            details: &'a [FieldIssue],
            request_id: &'a str,
        }
        let message = if self.omitted > 0 {
            Cow::Owned(format!(
                "{} {} more not listed.",
                self.message, self.omitted
            ))
        } else {
            Cow::Borrowed(self.message.as_ref())
        };
        let body = Body {
            error: Inner {
                code: self.code.as_str(),
                message: &message,
                details: &self.details,
                request_id,
            },
        };
        // Serialising plain strings and slices of them cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause})")?;
        }
        Ok(())
    }
}

impl std::error::Error for AppError {}

impl From<ErrorCode> for AppError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn every_code_maps_to_its_status() {
        let cases = [
            (ErrorCode::BadRequest, 400, "BAD_REQUEST"),
            (
                ErrorCode::UnsupportedMediaType,
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (ErrorCode::PayloadTooLarge, 413, "PAYLOAD_TOO_LARGE"),
            (ErrorCode::ValidationError, 422, "VALIDATION_ERROR"),
            (
                ErrorCode::IdempotencyKeyReused,
                422,
                "IDEMPOTENCY_KEY_REUSED",
            ),
            (ErrorCode::Unauthenticated, 401, "UNAUTHENTICATED"),
            (ErrorCode::Forbidden, 403, "FORBIDDEN"),
            (ErrorCode::CsrfRejected, 403, "CSRF_REJECTED"),
            (
                ErrorCode::ReauthenticationRequired,
                403,
                "REAUTHENTICATION_REQUIRED",
            ),
            (ErrorCode::NotFound, 404, "NOT_FOUND"),
            (ErrorCode::MethodNotAllowed, 405, "METHOD_NOT_ALLOWED"),
            (ErrorCode::Conflict, 409, "CONFLICT"),
            (ErrorCode::PreconditionFailed, 412, "PRECONDITION_FAILED"),
            (ErrorCode::RateLimited, 429, "RATE_LIMITED"),
            (ErrorCode::Internal, 500, "INTERNAL"),
            (ErrorCode::Unavailable, 503, "UNAVAILABLE"),
        ];
        for (code, status, wire) in cases {
            assert_eq!(code.status(), status, "{wire}");
            assert_eq!(code.as_str(), wire);
            assert_eq!(serde_json::to_value(code).unwrap(), json!(wire));
        }
    }

    #[test]
    fn body_has_the_documented_shape() {
        let err = AppError::validation(vec![FieldIssue::new("email", "invalid_format")]);
        let body: Value = serde_json::from_slice(&err.to_body("req-1")).unwrap();
        assert_eq!(
            body,
            json!({"error": {
                "code": "VALIDATION_ERROR",
                "message": "One or more fields are invalid.",
                "details": [{"field": "email", "issue": "invalid_format"}],
                "request_id": "req-1"
            }})
        );
    }

    #[test]
    fn internal_cause_never_reaches_the_body() {
        let err = AppError::internal("SQLITE_ERROR: no such table: users at src/db.rs:12");
        let body = String::from_utf8(err.to_body("r")).unwrap();
        assert!(!body.contains("SQLITE"), "{body}");
        assert!(!body.contains("src/"), "{body}");
        assert_eq!(err.status(), 500);
        assert_eq!(
            err.cause(),
            Some("SQLITE_ERROR: no such table: users at src/db.rs:12")
        );
    }

    #[test]
    fn details_are_bounded_and_the_rest_counted() {
        let many: Vec<_> = (0..8700)
            .map(|i| FieldIssue::new(format!("k{i}"), "unknown_field"))
            .collect();
        let err = AppError::validation(many);
        assert_eq!(err.details().len(), MAX_DETAILS);
        let body: Value = serde_json::from_slice(&err.to_body("r")).unwrap();
        assert_eq!(body["error"]["details"].as_array().unwrap().len(), 20);
        assert_eq!(
            body["error"]["message"],
            "One or more fields are invalid. 8680 more not listed."
        );
        assert!(err.to_body("r").len() < 2_000);

        let long = AppError::validation(vec![FieldIssue::new("é".repeat(5_000), "unknown_field")]);
        let field = &long.details()[0].field;
        assert_eq!(
            field.chars().count(),
            MAX_FIELD_CHARS + 1,
            "cut, with an ellipsis"
        );
        assert!(field.ends_with('…'));
    }

    #[test]
    fn every_code_is_listed_once() {
        for (i, a) in ErrorCode::ALL.iter().enumerate() {
            assert!(!ErrorCode::ALL[i + 1..].contains(a), "{a:?} twice");
        }
    }

    #[test]
    fn unavailable_carries_retry_after() {
        let err = AppError::unavailable("timeout", 5);
        assert_eq!(err.status(), 503);
        assert_eq!(err.headers(), &[("Retry-After", Cow::from("5"))]);
    }
}
