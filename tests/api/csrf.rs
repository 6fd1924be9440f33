//! CSRF: cookie-authenticated unsafe requests need an allowed `Origin` or
//! `Sec-Fetch-Site: same-origin`; safe requests and bearer tokens do not.

use crate::support::{app, assert_error, ORIGIN};
use reqwest::Method;

#[tokio::test]
async fn unsafe_cookie_requests_from_foreign_or_unknown_origins_are_rejected() {
    let app = app();
    let (_, browser) = app.new_user("csrf").await;
    let cases: [&[(&str, &str)]; 5] = [
        &[],
        &[("origin", "https://evil.example")],
        &[("sec-fetch-site", "cross-site")],
        &[("origin", "null"), ("sec-fetch-site", "same-site")],
        // A present Origin decides, whatever Sec-Fetch-Site claims.
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "same-origin"),
        ],
    ];
    for headers in cases {
        let mut req = app
            .client()
            .post(app.at("/v1/auth/logout"))
            .header("cookie", &browser.cookie);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        assert_error(resp, 403, "CSRF_REJECTED").await;
    }
    // The session survived every rejected attempt.
    let resp = app
        .client()
        .get(app.at("/v1/auth/me"))
        .header("cookie", &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "safe methods need no origin proof");
}

#[tokio::test]
async fn allowed_origin_or_same_origin_passes() {
    let app = app();
    let (_, a) = app.new_user("csrf-ok").await;
    let resp = app
        .client()
        .post(app.at("/v1/auth/logout"))
        .header("cookie", &a.cookie)
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);

    let (_, b) = app.new_user("csrf-same").await;
    let resp = app
        .client()
        .post(app.at("/v1/auth/logout"))
        .header("cookie", &b.cookie)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn bearer_requests_are_not_subject_to_the_origin_check() {
    let app = app();
    let token = crate::service_tokens::sign_eddsa("test-k1", "user", 300);
    let resp = app
        .client()
        .request(Method::DELETE, app.at("/v1/auth/sessions/x"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    // Authenticated as a service (no CSRF check); session routes need a browser session.
    assert_error(resp, 403, "FORBIDDEN").await;
    // Deleting an account is one of them: a service never deletes the user it acts for.
    let token = crate::service_tokens::sign_eddsa("test-k1", "user", 300);
    let resp = app
        .client()
        .request(Method::DELETE, app.at("/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "FORBIDDEN").await;
}
