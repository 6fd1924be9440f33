//! Service-to-service JWTs: accepted keys and algorithms, and every rejection case.
//! The test environment trusts the Ed25519 public keys `test-k1` and `test-k2` and an HS256
//! secret (see `wrangler.toml`); the matching private seeds are below, for tests only.

use crate::support::{app, assert_error, header};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jwt_simple::prelude::*;
use serde_json::Value;

const ISSUER: &str = "https://issuer.test";
const HS256_SECRET: &str = "test-hs256-secret-0123456789abcdef";
const KEYS: [(&str, &str, &str); 2] = [
    (
        "test-k1",
        "R6TT0w9f2rVYJAWepRVCe2ykJHpzJonEvGGyEg53-TE",
        "pL6uEYVsVli1CD5qk922N8e-ZNxRET-AWkE83zkLZjA",
    ),
    (
        "test-k2",
        "HvDOVMS8JoH6ttJuOmqCo4hDgBnxvAHDTmkfhnTWdzU",
        "E3WZ4UJQaW6e6D0mDu4SuR8QJ5cwsBqghw7YuRUkRjY",
    ),
];

#[derive(Serialize, Deserialize)]
struct Scope {
    scope: String,
}

fn key_pair(kid: &str) -> Ed25519KeyPair {
    let (_, seed, public) = KEYS.iter().find(|(k, _, _)| *k == kid).unwrap();
    let mut raw = B64URL.decode(seed).unwrap();
    raw.extend(B64URL.decode(public).unwrap());
    Ed25519KeyPair::from_bytes(&raw).unwrap().with_key_id(kid)
}

fn claims(scope: &str, valid_secs: u64) -> JWTClaims<Scope> {
    Claims::with_custom_claims(
        Scope {
            scope: scope.into(),
        },
        Duration::from_secs(valid_secs),
    )
    .with_issuer(ISSUER)
    .with_audience("edge-api")
    .with_subject("reporting-service")
}

/// Signs a valid EdDSA token with the named test key.
pub fn sign_eddsa(kid: &str, scope: &str, valid_secs: u64) -> String {
    key_pair(kid).sign(claims(scope, valid_secs)).unwrap()
}

async fn me(token: &str) -> reqwest::Response {
    let app = app();
    app.client()
        .get(app.at("/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn eddsa_tokens_from_either_configured_key_are_accepted() {
    for kid in ["test-k1", "test-k2"] {
        let resp = me(&sign_eddsa(kid, "user reports:read", 300)).await;
        assert_eq!(resp.status(), 200, "{kid}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["kind"], "service");
        assert_eq!(body["subject"], "reporting-service");
        assert_eq!(body["scopes"], serde_json::json!(["user", "reports:read"]));
    }
}

#[tokio::test]
async fn hs256_tokens_with_the_shared_secret_are_accepted() {
    let token = HS256Key::from_bytes(HS256_SECRET.as_bytes())
        .authenticate(claims("user reports:read", 300))
        .unwrap();
    let resp = me(&token).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["kind"], "service");
    assert_eq!(body["subject"], "reporting-service");
    assert_eq!(body["scopes"], serde_json::json!(["user", "reports:read"]));
}

#[tokio::test]
async fn every_invalid_token_is_401() {
    let now = Clock::now_since_epoch().as_secs();
    let pair = key_pair("test-k1");
    let at = |iat: u64, exp: u64| {
        let mut c = claims("user", 60);
        c.issued_at = Some(Duration::from_secs(iat));
        c.expires_at = Some(Duration::from_secs(exp));
        c
    };
    let b64 = |s: &str| B64URL.encode(s);
    let payload = b64(&format!(
        r#"{{"iss":"{ISSUER}","aud":"edge-api","sub":"x","scope":"admin","iat":{now},"exp":{}}}"#,
        now + 300
    ));
    let public_k1 = B64URL.decode(KEYS[0].2).unwrap();

    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#)),
        ),
        (
            "algorithm confusion: HS256 keyed with the public key",
            HS256Key::from_bytes(&public_k1)
                .with_key_id("test-k1")
                .authenticate(claims("admin", 300))
                .unwrap(),
        ),
        ("expired", pair.sign(at(now - 7200, now - 3600)).unwrap()),
        (
            "lifetime over an hour",
            pair.sign(at(now, now + 7200)).unwrap(),
        ),
        (
            "not yet valid",
            pair.sign(claims("user", 300).invalid_before(Duration::from_secs(now + 3600)))
                .unwrap(),
        ),
        (
            "wrong audience",
            pair.sign(claims("user", 300).with_audience("someone-else"))
                .unwrap(),
        ),
        (
            "wrong issuer",
            pair.sign(claims("user", 300).with_issuer("https://evil.test"))
                .unwrap(),
        ),
        (
            "unknown kid",
            Ed25519KeyPair::generate()
                .with_key_id("test-k9")
                .sign(claims("user", 300))
                .unwrap(),
        ),
        (
            "right kid, wrong key",
            Ed25519KeyPair::generate()
                .with_key_id("test-k1")
                .sign(claims("user", 300))
                .unwrap(),
        ),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (case, token) in cases {
        let resp = me(&token).await;
        assert_eq!(
            header(resp.headers(), "www-authenticate"),
            Some(r#"Bearer error="invalid_token""#),
            "{case}"
        );
        let body = assert_error(resp, 401, "UNAUTHENTICATED").await;
        assert!(
            !body.to_string().contains("JWT"),
            "{case}: reason leaked: {body}"
        );
    }
    let app = app();
    let resp = app
        .client()
        .get(app.at("/v1/auth/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    // No bearer token was sent, so the challenge names no error (RFC 6750 §3.1).
    assert_eq!(header(resp.headers(), "www-authenticate"), Some("Bearer"));
    assert_error(resp, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn scopes_decide_the_role() {
    let app = app();
    let no_role = sign_eddsa("test-k1", "reports:read", 300);
    let resp = me(&no_role).await;
    // The 403 tells the service which scope the route needs (RFC 6750 §3.1).
    assert_eq!(
        header(resp.headers(), "www-authenticate"),
        Some(r#"Bearer error="insufficient_scope", scope="user""#)
    );
    assert_error(resp, 403, "FORBIDDEN").await;

    let user = sign_eddsa("test-k1", "user", 300);
    let resp = app
        .client()
        .get(app.at("/v1/admin/users"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(resp.headers(), "www-authenticate"),
        Some(r#"Bearer error="insufficient_scope", scope="admin""#)
    );
    assert_error(resp, 403, "FORBIDDEN").await;

    let admin = sign_eddsa("test-k2", "admin", 300);
    let resp = app
        .client()
        .get(app.at("/v1/admin/users?limit=1"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn the_scheme_is_read_in_any_case_and_another_scheme_leaves_the_cookie_in_charge() {
    // `bearer` in lower case is the same scheme (RFC 9110 §11.1).
    let token = sign_eddsa("test-k1", "user", 300);
    let app = app();
    for scheme in ["bearer", "BEARER"] {
        let resp = app
            .client()
            .get(app.at("/v1/auth/me"))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{scheme}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["kind"], "service", "{scheme}");
    }

    // A browser on a site behind HTTP Basic authentication sends `Authorization: Basic` with
    // every request: its session cookie still signs it in, for reads and for writes.
    let (email, browser) = app.new_user("basic-auth").await;
    let basic = "Basic c3RhZ2luZzpzZWNyZXQ=";
    let resp = app
        .as_browser(&browser, reqwest::Method::GET, "/v1/auth/me")
        .header("authorization", basic)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["kind"], "user");
    assert_eq!(body["user"]["email"], email.as_str());
    let resp = app
        .as_browser(&browser, reqwest::Method::POST, "/v1/notes")
        .header("authorization", basic)
        .json(&serde_json::json!({"title": "behind basic auth", "body": "kept"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    // The CSRF rule still holds for it as for any cookie request.
    let resp = app
        .client()
        .post(app.at("/v1/notes"))
        .header("cookie", &browser.cookie)
        .header("origin", "https://evil.example")
        .header("authorization", basic)
        .json(&serde_json::json!({"title": "forged"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "CSRF_REJECTED").await;
}

#[tokio::test]
async fn tokens_expire_on_the_request_clock_as_sessions_do() {
    // The test clock (`x-test-clock-advance-ms`, TEST_ROUTES only) moves token checks too.
    let app = app();
    let token = sign_eddsa("test-k1", "user", 600);
    let at = |advance_ms: u64| {
        app.client()
            .get(app.at("/v1/auth/me"))
            .bearer_auth(&token)
            .header("x-test-clock-advance-ms", advance_ms.to_string())
            .send()
    };
    assert_eq!(at(0).await.unwrap().status(), 200);
    // Within the 60 s of skew allowed after `exp`, then past it.
    assert_eq!(at(650_000).await.unwrap().status(), 200);
    let resp = at(700_000).await.unwrap();
    assert_eq!(
        header(resp.headers(), "www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_error(resp, 401, "UNAUTHENTICATED").await;
}
