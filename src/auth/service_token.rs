//! Service-to-service tokens: short-lived JWTs verified with `jwt-simple`.
//!
//! Accepted: EdDSA (Ed25519) signed by one of the configured public keys, chosen by the
//! header's `kid` (several keys allow rotation), and HS256 when a shared secret is configured.
//! Anything else, `alg: none` included, is refused before any key is touched, and the key type
//! must match the algorithm, so a public key can never be used as an HMAC secret (algorithm
//! confusion). Required: `iss` and `aud` as configured, `iat`, `exp`, a lifetime of at most
//! one hour, and `nbf`/`exp` within a 60-second clock skew.
//!
//! Scopes (`scope`, space-separated as in RFC 8693 §4.2) map to roles: `admin` or `user`.

use crate::domain::Role;
use crate::error::{AppError, ErrorCode};
use jwt_simple::prelude::*;
use std::collections::HashSet;

/// The longest lifetime (`exp - iat`) accepted.
pub const MAX_LIFETIME_SECS: u64 = 3600;
/// Allowed clock difference between issuer and verifier.
pub const CLOCK_SKEW_SECS: u64 = 60;

/// Claims beyond the registered ones.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ServiceClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A verified service caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipal {
    pub subject: String,
    pub scopes: Vec<String>,
    /// The highest role its scopes grant, if any.
    pub role: Option<Role>,
}

/// How service tokens (`Authorization: Bearer <JWT>`) are verified.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JwtConfig {
    /// `JWT_ISSUER`: the required `iss`.
    pub issuer: String,
    /// `JWT_AUDIENCE`: the required `aud` (default `edge-api`).
    pub audience: String,
    /// `JWT_ED25519_PUBLIC_KEYS`: `kid:base64url(32-byte key)` pairs, comma-separated.
    pub ed25519_keys: Vec<(String, [u8; 32])>,
    /// `JWT_HS256_SECRET`: optional shared secret (at least 32 bytes) for HS256 tokens.
    pub hs256_secret: Option<Vec<u8>>,
}

impl JwtConfig {
    /// Returns true when some key is configured, i.e. service tokens can be accepted.
    pub fn enabled(&self) -> bool {
        !self.ed25519_keys.is_empty() || self.hs256_secret.is_some()
    }
}

/// The credentials of an `Authorization` value in the `Bearer` scheme (RFC 6750 §2.1), the
/// scheme matched in any case (RFC 9110 §11.1): `Some("")` for the scheme alone, `None` for
/// another scheme (`Basic` from a site behind HTTP authentication, say), which this API
/// does not take as a credential.
pub fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, credentials) = authorization
        .trim()
        .split_once(' ')
        .unwrap_or((authorization.trim(), ""));
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

/// Verifies `token` at `now_ms` (the request's clock, Unix milliseconds, as sessions are
/// checked); every failure is the same 401 (the reason is only logged).
pub fn verify(token: &str, config: &JwtConfig, now_ms: u64) -> Result<ServicePrincipal, AppError> {
    let reject = |reason: &str| {
        AppError::new(ErrorCode::Unauthenticated)
            .with_message("The service token is not valid.")
            .with_header("WWW-Authenticate", r#"Bearer error="invalid_token""#)
            .with_cause(format!("service token rejected: {reason}"))
    };
    if !config.enabled() {
        return Err(reject("service tokens are not configured"));
    }
    let meta = Token::decode_metadata(token).map_err(|e| reject(&e.to_string()))?;
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from([config.issuer.clone()])),
        allowed_audiences: Some(HashSet::from([config.audience.clone()])),
        time_tolerance: Some(Duration::from_secs(CLOCK_SKEW_SECS)),
        max_validity: Some(Duration::from_secs(MAX_LIFETIME_SECS + CLOCK_SKEW_SECS)),
        max_token_length: Some(4096),
        artificial_time: Some(UnixTimeStamp::from_millis(now_ms)),
        ..VerificationOptions::default()
    };
    let claims = match meta.algorithm() {
        "EdDSA" => {
            let (kid, raw) = match meta.key_id() {
                Some(kid) => config
                    .ed25519_keys
                    .iter()
                    .find(|(k, _)| k == kid)
                    .ok_or_else(|| reject("unknown kid"))?,
                None if config.ed25519_keys.len() == 1 => &config.ed25519_keys[0],
                None => return Err(reject("kid required when several keys are configured")),
            };
            let key = Ed25519PublicKey::from_bytes(raw)
                .map_err(|e| reject(&e.to_string()))?
                .with_key_id(kid);
            key.verify_token::<ServiceClaims>(token, Some(options))
        }
        "HS256" => {
            let secret = config
                .hs256_secret
                .as_ref()
                .ok_or_else(|| reject("HS256 is not enabled"))?;
            HS256Key::from_bytes(secret).verify_token::<ServiceClaims>(token, Some(options))
        }
        other => return Err(reject(&format!("algorithm {other} is not accepted"))),
    }
    .map_err(|e| reject(&e.to_string()))?;

    let (Some(iat), Some(exp)) = (claims.issued_at, claims.expires_at) else {
        return Err(reject("iat and exp are required"));
    };
    if exp <= iat {
        return Err(reject("exp is not after iat"));
    }
    if exp.as_secs() - iat.as_secs() > MAX_LIFETIME_SECS {
        return Err(reject("lifetime over one hour"));
    }
    let subject = claims
        .subject
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| reject("sub is required"))?;
    // Scope tokens are separated by single spaces and hold none (RFC 6749 §3.3), so a token
    // with a tab or a newline in it is one unknown scope, which grants nothing.
    let scopes: Vec<String> = claims
        .custom
        .scope
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let role = scopes.iter().filter_map(|s| Role::parse(s)).max();
    Ok(ServicePrincipal {
        subject,
        scopes,
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case_and_other_schemes_are_not_credentials() {
        for (value, token) in [
            ("Bearer abc.def", Some("abc.def")),
            ("bearer abc.def", Some("abc.def")),
            ("BEARER   abc.def  ", Some("abc.def")),
            ("Bearer", Some("")),
            ("Bearer   ", Some("")),
            ("Basic dXNlcjpwYXNz", None),
            ("Bearerabc", None),
            ("Digest username=\"a\"", None),
            ("", None),
        ] {
            assert_eq!(bearer(value), token, "{value:?}");
        }
    }

    const ISSUER: &str = "https://issuer.example";

    /// The wall clock, which `jwt-simple` stamps the test tokens with.
    fn now() -> u64 {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        u64::try_from(since.unwrap().as_millis()).unwrap()
    }

    fn config(pair: &Ed25519KeyPair) -> JwtConfig {
        let raw: [u8; 32] = pair.public_key().to_bytes().try_into().unwrap();
        JwtConfig {
            issuer: ISSUER.into(),
            audience: "edge-api".into(),
            ed25519_keys: vec![("k1".into(), raw)],
            hs256_secret: Some(b"0123456789abcdef0123456789abcdef".to_vec()),
        }
    }

    fn claims(scope: &str, valid: Duration) -> JWTClaims<ServiceClaims> {
        Claims::with_custom_claims(
            ServiceClaims {
                scope: Some(scope.into()),
            },
            valid,
        )
        .with_issuer(ISSUER)
        .with_audience("edge-api")
        .with_subject("billing-service")
    }

    #[test]
    fn valid_eddsa_token_grants_its_scopes() {
        let pair = Ed25519KeyPair::generate().with_key_id("k1");
        let token = pair
            .sign(claims("user reports:read", Duration::from_mins(5)))
            .unwrap();
        let p = verify(&token, &config(&pair), now()).unwrap();
        assert_eq!(p.subject, "billing-service");
        assert_eq!(p.role, Some(Role::User));
        assert_eq!(p.scopes, ["user", "reports:read"]);
    }

    #[test]
    fn an_empty_subject_a_backwards_lifetime_and_odd_separators_grant_nothing() {
        let pair = Ed25519KeyPair::generate().with_key_id("k1");
        let cfg = config(&pair);
        for subject in ["", "  "] {
            let token = pair
                .sign(claims("user", Duration::from_mins(5)).with_subject(subject))
                .unwrap();
            assert_eq!(
                verify(&token, &cfg, now()).unwrap_err().status(),
                401,
                "{subject:?}"
            );
        }
        // Both times inside the clock leeway, but the token expires before it was issued.
        let mut backwards = claims("user", Duration::from_mins(5));
        let issued = backwards.issued_at.unwrap();
        backwards.issued_at = Some(issued + Duration::from_secs(50));
        backwards.expires_at = Some(issued + Duration::from_secs(30));
        let token = pair.sign(backwards).unwrap();
        assert_eq!(verify(&token, &cfg, now()).unwrap_err().status(), 401);

        let tabbed = pair
            .sign(claims("user\tadmin", Duration::from_mins(5)))
            .unwrap();
        let p = verify(&tabbed, &cfg, now()).unwrap();
        assert_eq!((p.role, p.scopes), (None, vec!["user\tadmin".to_owned()]));
        let spaced = pair
            .sign(claims(" user  reports:read ", Duration::from_mins(5)))
            .unwrap();
        assert_eq!(
            verify(&spaced, &cfg, now()).unwrap().scopes,
            ["user", "reports:read"]
        );
    }

    #[test]
    fn hs256_works_when_configured() {
        let pair = Ed25519KeyPair::generate();
        let cfg = config(&pair);
        let key = HS256Key::from_bytes(cfg.hs256_secret.as_ref().unwrap());
        let token = key
            .authenticate(claims("admin", Duration::from_mins(5)))
            .unwrap();
        assert_eq!(verify(&token, &cfg, now()).unwrap().role, Some(Role::Admin));
    }

    #[test]
    fn wrong_key_audience_issuer_or_lifetime_is_rejected() {
        let pair = Ed25519KeyPair::generate().with_key_id("k1");
        let cfg = config(&pair);
        let other = Ed25519KeyPair::generate().with_key_id("k1");
        let cases = [
            other.sign(claims("user", Duration::from_mins(5))).unwrap(),
            pair.sign(claims("user", Duration::from_mins(5)).with_audience("other"))
                .unwrap(),
            pair.sign(claims("user", Duration::from_mins(5)).with_issuer("https://evil"))
                .unwrap(),
            pair.sign(claims("user", Duration::from_hours(2))).unwrap(),
            Ed25519KeyPair::generate()
                .with_key_id("k9")
                .sign(claims("user", Duration::from_mins(5)))
                .unwrap(),
        ];
        for token in cases {
            let err = verify(&token, &cfg, now()).unwrap_err();
            assert_eq!(err.status(), 401);
        }
    }

    #[test]
    fn alg_none_and_confusion_are_rejected() {
        let pair = Ed25519KeyPair::generate().with_key_id("k1");
        let mut cfg = config(&pair);
        let b64 = |s: &str| Base64UrlSafeNoPadding::encode_to_string(s).unwrap();
        let payload = b64(&format!(
            r#"{{"iss":"{ISSUER}","aud":"edge-api","sub":"x","iat":1,"exp":9999999999}}"#
        ));
        let none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
        assert_eq!(verify(&none, &cfg, now()).unwrap_err().status(), 401);

        // HS256 signed with the public key bytes as the secret must not pass.
        cfg.hs256_secret = None;
        let confused = HS256Key::from_bytes(&pair.public_key().to_bytes())
            .authenticate(claims("admin", Duration::from_mins(5)))
            .unwrap();
        assert_eq!(verify(&confused, &cfg, now()).unwrap_err().status(), 401);
    }

    #[test]
    fn disabled_configuration_rejects_everything() {
        let pair = Ed25519KeyPair::generate().with_key_id("k1");
        let token = pair.sign(claims("user", Duration::from_mins(5))).unwrap();
        assert_eq!(
            verify(&token, &JwtConfig::default(), now())
                .unwrap_err()
                .status(),
            401
        );
    }
}
