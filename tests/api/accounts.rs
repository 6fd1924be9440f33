//! Signup, login and logout: the account lifecycle and the session cookie.

use crate::support::{
    app, assert_error, assert_security_headers, header, session_cookie, set_cookies, spawn,
    unique_email, Browser, Spawn, TestApp, PASSWORD,
};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn signup_creates_a_user_and_never_returns_the_hash() {
    let app = app();
    let email = unique_email("Signup").replace("signup", "SIGNUP");
    let resp = app.signup(&format!("  {email} "), PASSWORD).await;
    assert_eq!(resp.status(), 201);
    let location = header(resp.headers(), "location").unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    let mut keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "email", "id", "role"]);
    assert_eq!(body["email"], email.to_lowercase());
    assert_eq!(body["role"], "user");
    let id = uuid::Uuid::parse_str(body["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);
    assert!(location.ends_with(body["id"].as_str().unwrap()));
    assert!(!body.to_string().contains("pbkdf2"));
}

#[tokio::test]
async fn duplicate_email_is_409_whatever_the_case() {
    let app = app();
    let email = unique_email("dup");
    assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
    let resp = app.signup(&email.to_uppercase(), PASSWORD).await;
    let body = assert_error(resp, 409, "CONFLICT").await;
    assert_eq!(
        body["error"]["details"],
        json!([{"field": "email", "issue": "taken"}])
    );
}

#[tokio::test]
async fn signup_validates_email_and_password_length() {
    let app = app();
    let resp = app.signup("not-an-email", "short").await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"],
        json!([
            {"field": "email", "issue": "invalid_format"},
            {"field": "password", "issue": "too_short"}
        ])
    );
    let resp = app.signup(&unique_email("long"), &"x".repeat(257)).await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"][0]["issue"], "too_long");
}

#[tokio::test]
async fn login_sets_a_host_only_http_only_session_cookie() {
    let app = app();
    let email = unique_email("cookie");
    app.signup(&email, PASSWORD).await;
    let resp = app.login(&email, PASSWORD).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(resp.headers(), "cache-control"), Some("no-store"));
    let cookies = set_cookies(&resp);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let attrs: Vec<&str> = cookies[0].split("; ").collect();
    let (name, token) = attrs[0].split_once('=').unwrap();
    assert_eq!(name, "__Host-session");
    assert_eq!(token.len(), 43, "32 bytes, base64url");
    for attr in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=2592000",
    ] {
        assert!(attrs.contains(&attr), "{attr} missing from {cookies:?}");
    }
    assert!(!cookies[0].contains("Domain"), "{cookies:?}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["user"]["email"], email);
    assert!(body["session_id"].is_string());
    assert!(body["user"].get("password_hash").is_none());
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = app();
    let email = unique_email("enum");
    app.signup(&email, PASSWORD).await;
    let wrong = app.login(&email, "not the right password").await;
    assert!(set_cookies(&wrong).is_empty());
    let wrong = assert_error(wrong, 401, "UNAUTHENTICATED").await;
    let unknown = app.login(&unique_email("nobody"), PASSWORD).await;
    let unknown = assert_error(unknown, 401, "UNAUTHENTICATED").await;
    let strip = |mut v: Value| {
        v["error"]["request_id"] = Value::Null;
        v
    };
    assert_eq!(strip(wrong.clone()), strip(unknown));
    // A password shorter than the rule for new ones is checked, not refused: it fails like
    // any wrong one (an account set under an older, shorter rule can still sign in).
    let short = app.login(&email, "short").await;
    let short = assert_error(short, 401, "UNAUTHENTICATED").await;
    assert_eq!(strip(short), strip(wrong));
}

#[tokio::test]
async fn login_always_issues_a_new_session_and_drops_the_presented_one() {
    let app = app();
    let (email, first) = app.new_user("rotate").await;
    let resp = app
        .client()
        .post(app.at("/v1/auth/login"))
        .header("cookie", &first.cookie)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let second = Browser {
        cookie: session_cookie(&resp).unwrap(),
    };
    assert_ne!(first.cookie, second.cookie);
    let old = app
        .as_browser(&first, Method::GET, "/v1/auth/me")
        .send()
        .await
        .unwrap();
    assert_error(old, 401, "UNAUTHENTICATED").await;
    let new = app
        .as_browser(&second, Method::GET, "/v1/auth/me")
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200);
}

#[tokio::test]
async fn tokens_the_server_did_not_issue_are_refused_and_cleared() {
    let app = app();
    for cookie in [
        format!("__Host-session={}", "A".repeat(43)),
        "__Host-session=forged".to_string(),
    ] {
        let resp = app
            .client()
            .get(app.at("/v1/auth/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let cleared = set_cookies(&resp);
        assert!(
            cleared
                .iter()
                .any(|c| c.starts_with("__Host-session=;") && c.contains("Max-Age=0")),
            "{cleared:?}"
        );
        assert_error(resp, 401, "UNAUTHENTICATED").await;
    }
}

#[tokio::test]
async fn me_returns_the_signed_in_user() {
    let app = app();
    let (email, browser) = app.new_user("me").await;
    let resp = app
        .as_browser(&browser, Method::GET, "/v1/auth/me")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["kind"], "user");
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["user"]["role"], "user");
}

#[tokio::test]
async fn logout_deletes_the_session_server_side_and_clears_the_cookie() {
    let app = app();
    let (_, browser) = app.new_user("logout").await;
    let resp = app
        .as_browser(&browser, Method::POST, "/v1/auth/logout")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let cleared = set_cookies(&resp);
    assert!(cleared[0].starts_with("__Host-session=;") && cleared[0].contains("Max-Age=0"));
    // Replaying the old cookie (a copy kept by an attacker) no longer works.
    let resp = app
        .as_browser(&browser, Method::GET, "/v1/auth/me")
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn log_lines_name_the_user_and_never_contain_tokens_or_passwords() {
    let app = app();
    let (_, browser) = app.new_user("logs").await;
    let resp = app
        .as_browser(&browser, Method::GET, "/v1/auth/me")
        .header("x-request-id", "token-log-check-1")
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    let line = app.request_log("token-log-check-1").await;
    assert_eq!(line["user_id"], body["user"]["id"]);
    assert_eq!(line["route"], "/v1/auth/me");

    let token = browser.cookie.split_once('=').unwrap().1;
    let text = app.log_text();
    assert!(!text.contains(token), "session token in the log");
    assert!(!text.contains(PASSWORD), "password in the log");
    assert!(!text.contains("pbkdf2"), "password hash in the log");
}

async fn methods(app: &TestApp) -> Value {
    let resp = app
        .client()
        .get(app.at("/v1/auth/methods"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    // The same for everyone, so shared caches may keep it, and it carries no client's quota.
    assert_eq!(
        header(&headers, "cache-control"),
        Some("public, max-age=300")
    );
    assert_eq!(header(&headers, "ratelimit"), None);
    assert_security_headers(&headers);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn the_sign_in_methods_on_offer_are_announced() {
    assert_eq!(
        methods(app()).await,
        json!({"passkeys": true, "email_links": true, "passwords": true})
    );
    let no_passwords = spawn(Spawn::with_vars(&[("PASSWORD_LOGIN", "false")]));
    assert_eq!(
        methods(&no_passwords).await,
        json!({"passkeys": true, "email_links": true, "passwords": false})
    );
    // Production with neither a relying party nor a mail API configured.
    let production = spawn(Spawn {
        env: Some(""),
        vars: vec![
            ("APP_ENV", "production".into()),
            ("CURSOR_SECRET", "0123456789abcdef0123456789abcdef".into()),
        ],
        ..Spawn::default()
    });
    assert_eq!(
        methods(&production).await,
        json!({"passkeys": false, "email_links": false, "passwords": true})
    );
}

/// `DELETE /v1/auth/me` as `browser`, `advance_ms` after now on the test clock.
async fn delete_account(app: &TestApp, browser: &Browser, advance_ms: u64) -> reqwest::Response {
    app.as_browser(browser, Method::DELETE, "/v1/auth/me")
        .header("x-test-clock-advance-ms", advance_ms.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_account_deletes_itself_after_a_recent_sign_in_and_its_address_is_free_again() {
    let app = app();
    let (email, first) = app.new_user("erase").await;
    let second = app.browser(&email, PASSWORD).await;
    let note = app
        .as_browser(&first, Method::POST, "/v1/notes")
        .header("idempotency-key", "erase-1")
        .json(&json!({"title": "Mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(note.status(), 201);
    let me = |browser: &Browser| app.as_browser(browser, Method::GET, "/v1/auth/me").send();

    // Six minutes after signing in is too long ago: sign in again first. Nothing is lost.
    let body = assert_error(
        delete_account(app, &first, 6 * 60 * 1000).await,
        403,
        "REAUTHENTICATION_REQUIRED",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sign in again"),
        "{body}"
    );
    assert_eq!(me(&first).await.unwrap().status(), 200);
    // Without the page's origin, a cookie cannot delete anything.
    let resp = app
        .client()
        .delete(app.at("/v1/auth/me"))
        .header("cookie", &first.cookie)
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "CSRF_REJECTED").await;

    let resp = delete_account(app, &first, 0).await;
    assert_eq!(resp.status(), 204);
    let cleared = header(resp.headers(), "set-cookie").unwrap().to_owned();
    assert!(
        cleared.starts_with("__Host-session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert!(resp.bytes().await.unwrap().is_empty());
    // Every session is gone, the password no longer signs in, the owner is told.
    for browser in [&first, &second] {
        assert_eq!(me(browser).await.unwrap().status(), 401);
    }
    assert_eq!(app.login(&email, PASSWORD).await.status(), 401);
    let notices = app.notices_to(&email, 1).await;
    assert_eq!(notices[0]["subject"], "Your account was deleted (edge-api)");
    assert!(notices[0]["text"]
        .as_str()
        .unwrap()
        .contains("every session was signed out"));
    // A second deletion with the old cookie finds no one.
    assert_error(delete_account(app, &first, 0).await, 401, "UNAUTHENTICATED").await;

    // The address makes a new, empty account.
    assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
    let again = app.browser(&email, PASSWORD).await;
    let notes = app.get_json(&again, "/v1/notes").await;
    assert_eq!(notes["items"], json!([]), "{notes}");
}

#[tokio::test]
async fn deleting_an_account_leaves_none_of_its_rows() {
    let sqld = crate::support::private_turso_server();
    let app = spawn(Spawn {
        vars: sqld.worker_vars(),
        ..Spawn::default()
    });
    let (email, browser) = app.new_user("erase-rows").await;
    for key in ["rows-a", "rows-b"] {
        let resp = app
            .as_browser(&browser, Method::POST, "/v1/notes")
            .header("idempotency-key", key)
            .json(&json!({"title": key}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let link = app
        .client()
        .post(app.at("/v1/auth/email-link"))
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), 202);
    let id = app.get_json(&browser, "/v1/auth/me").await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let counts = || async {
        let mut counts = Vec::new();
        for sql in [
            "SELECT count(*) FROM users WHERE id = ?",
            "SELECT count(*) FROM notes WHERE owner_id = ?",
            "SELECT count(*) FROM idempotency_keys WHERE owner_id = ?",
            "SELECT count(*) FROM sign_in_links WHERE user_id = ?",
        ] {
            counts.push(sqld.scalar(sql, &[&id]).await["value"].clone());
        }
        counts
    };
    // The link is filed after its answer.
    for _ in 0..50 {
        if counts().await[3] == "1" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(counts().await, ["1", "2", "2", "1"]);

    assert_eq!(delete_account(&app, &browser, 0).await.status(), 204);
    assert_eq!(counts().await, ["0", "0", "0", "0"]);
}

/// Another isolate may still hold a deleted account's other session in its copy
/// (`SESSION_CACHE_SECS`). A note written through it must not outlive the account: the
/// insert's foreign key refuses it, and the session is answered as the dead one it is.
async fn a_deleted_accounts_session_held_elsewhere_writes_no_note(
    vars: Vec<(&'static str, String)>,
) -> TestApp {
    let mut vars = vars;
    vars.push(("SESSION_CACHE_SECS", "60".to_owned()));
    let app = spawn(Spawn {
        vars,
        instances: 2,
        ..Spawn::default()
    });
    let (email, first) = app.new_user("erase-race").await;
    let second = app.browser(&email, PASSWORD).await;
    let elsewhere = |method: Method, path: &str| {
        app.client()
            .request(method, format!("{}{path}", app.urls[1]))
            .header("cookie", &second.cookie)
            .header("origin", crate::support::ORIGIN)
    };
    // The second isolate reads the session and keeps its copy.
    let resp = elsewhere(Method::GET, "/v1/notes").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(delete_account(&app, &first, 0).await.status(), 204);

    for key in [None, Some("race-1")] {
        let mut req = elsewhere(Method::POST, "/v1/notes").json(&json!({"title": "Orphan"}));
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        let resp = req.send().await.unwrap();
        let cleared = header(resp.headers(), "set-cookie").map(str::to_owned);
        assert_error(resp, 401, "UNAUTHENTICATED").await;
        let cleared = cleared.expect("the dead session's cookie is cleared");
        assert!(
            cleared.starts_with("__Host-session=;") && cleared.contains("Max-Age=0"),
            "{cleared}"
        );
    }
    // Its own isolate had dropped the session at once.
    let resp = app
        .as_browser(&second, Method::GET, "/v1/auth/me")
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "UNAUTHENTICATED").await;
    let logged = app.log_lines_with("foreign key violation").await;
    assert_eq!(
        logged.len(),
        2,
        "each refused insert logs its cause: {logged:?}"
    );
    assert!(
        logged.iter().all(|l| l.contains("\"status\":401")),
        "{logged:?}"
    );
    app
}

#[tokio::test]
async fn a_deleted_accounts_session_held_by_another_isolate_writes_no_note_on_d1() {
    a_deleted_accounts_session_held_elsewhere_writes_no_note(Vec::new()).await;
}

#[tokio::test]
async fn a_deleted_accounts_session_held_by_another_isolate_writes_no_note_on_sqld() {
    let sqld = crate::support::private_turso_server();
    a_deleted_accounts_session_held_elsewhere_writes_no_note(sqld.worker_vars()).await;
    assert_eq!(
        sqld.scalar("SELECT count(*) FROM notes WHERE title = 'Orphan'", &[])
            .await["value"],
        "0"
    );
    assert_eq!(
        sqld.scalar(
            "SELECT count(*) FROM idempotency_keys WHERE key = 'race-1'",
            &[]
        )
        .await["value"],
        "0"
    );
}
