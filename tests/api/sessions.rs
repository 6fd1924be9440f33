//! The caller's sessions: listing, revoking one, logging out everywhere, password change,
//! expiry, and the strongly consistent check on sensitive routes.

use crate::support::{app, assert_error, session_cookie, spawn, Browser, Spawn, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

async fn status(app: &crate::support::TestApp, browser: &Browser) -> u16 {
    app.as_browser(browser, Method::GET, "/v1/auth/me")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn sessions_are_listed_with_the_current_one_marked() {
    let app = app();
    let (email, _first) = app.new_user("list").await;
    let second = app.browser(&email, PASSWORD).await;
    let resp = app
        .as_browser(&second, Method::GET, "/v1/auth/sessions")
        .header("user-agent", "listing-agent/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{body}");
    assert_eq!(items.iter().filter(|i| i["current"] == true).count(), 1);
    for item in items {
        let mut keys: Vec<_> = item.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["created_at", "current", "id", "last_seen_at", "user_agent"]
        );
    }
    // Newest first: the current session is the second login.
    assert_eq!(items[0]["current"], true);
    assert!(items[0]["created_at"].as_u64() >= items[1]["created_at"].as_u64());
}

#[tokio::test]
async fn a_session_can_be_revoked_by_its_owner_only() {
    let app = app();
    let (email, first) = app.new_user("revoke").await;
    let second = app.browser(&email, PASSWORD).await;
    let (_, stranger) = app.new_user("stranger").await;

    let list: Value = app.get_json(&second, "/v1/auth/sessions").await;
    let other_id = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another user cannot see or delete it: 404, exactly like an unknown id.
    let path = format!("/v1/auth/sessions/{other_id}");
    let resp = app
        .as_browser(&stranger, Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "NOT_FOUND").await;
    for unknown in [
        "/v1/auth/sessions/0190b0a0-0000-7000-8000-000000000000",
        "/v1/auth/sessions/not-a-session-id",
    ] {
        let resp = app
            .as_browser(&second, Method::DELETE, unknown)
            .send()
            .await
            .unwrap();
        assert_error(resp, 404, "NOT_FOUND").await;
    }
    assert_eq!(status(app, &first).await, 200);

    let resp = app
        .as_browser(&second, Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(status(app, &first).await, 401);
    assert_eq!(status(app, &second).await, 200);
}

#[tokio::test]
async fn logout_all_revokes_every_session() {
    let app = app();
    let (email, first) = app.new_user("logoutall").await;
    let second = app.browser(&email, PASSWORD).await;
    let resp = app
        .as_browser(&first, Method::POST, "/v1/auth/logout-all")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(status(app, &first).await, 401);
    assert_eq!(status(app, &second).await, 401);
    // Logging in again works.
    let third = app.browser(&email, PASSWORD).await;
    assert_eq!(status(app, &third).await, 200);
}

#[tokio::test]
async fn password_change_rotates_this_session_and_revokes_the_others() {
    let app = app();
    let (email, first) = app.new_user("passwd").await;
    let second = app.browser(&email, PASSWORD).await;

    let resp = app
        .as_browser(&first, Method::POST, "/v1/auth/password")
        .json(&json!({"current_password": "wrong password!!", "new_password": "a brand new passphrase"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"],
        json!([{"field": "current_password", "issue": "incorrect"}])
    );
    // A session that began with the password must send it, however new the session is.
    let resp = app
        .as_browser(&first, Method::POST, "/v1/auth/password")
        .json(&json!({"new_password": "a brand new passphrase"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"],
        json!([{"field": "current_password", "issue": "required"}])
    );
    assert_eq!(status(app, &first).await, 200, "nothing changed");

    let resp = app
        .as_browser(&first, Method::POST, "/v1/auth/password")
        .json(&json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let rotated = Browser {
        cookie: session_cookie(&resp).expect("a new session cookie"),
    };
    assert_ne!(rotated.cookie, first.cookie);
    assert_eq!(status(app, &first).await, 401);
    assert_eq!(status(app, &second).await, 401);
    assert_eq!(status(app, &rotated).await, 200);
    // The owner is told, once: the refused attempts sent nothing.
    let notices = app.notices_to(&email, 1).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(
        notices[0]["subject"],
        "Your password was changed (edge-api)"
    );

    assert_eq!(app.login(&email, PASSWORD).await.status(), 401);
    assert_eq!(
        app.login(&email, "a brand new passphrase").await.status(),
        200
    );
}

#[tokio::test]
async fn sensitive_routes_check_the_epoch_even_if_kv_still_has_the_session() {
    let app = app();
    let (email, browser) = app.new_user("epoch").await;
    // Revoke in D1 only, as a location where KV has not caught up would see it.
    let resp = app
        .client()
        .post(app.at("/v1/_test/bump-epoch"))
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    // An ordinary route still accepts the session (KV is the source there)...
    assert_eq!(status(app, &browser).await, 200);
    // ...but a sensitive one refuses it, and the refusal deletes the session.
    let resp = app
        .as_browser(&browser, Method::POST, "/v1/auth/logout-all")
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "UNAUTHENTICATED").await;
    assert_eq!(status(app, &browser).await, 401);
}

/// `/v1/auth/me` as `browser`, with the Worker's clock moved `advance_ms` ahead (the test
/// environment honours the header; production ignores it).
async fn status_at(app: &crate::support::TestApp, browser: &Browser, advance_ms: u64) -> u16 {
    app.as_browser(browser, Method::GET, "/v1/auth/me")
        .header("x-test-clock-advance-ms", advance_ms.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn idle_and_absolute_timeouts_are_enforced() {
    let app = spawn(Spawn::with_vars(&[
        ("SESSION_IDLE_SECS", "10"),
        ("SESSION_ABSOLUTE_SECS", "20"),
        ("SESSION_TOUCH_SECS", "5"),
    ]));
    // The clock header moves time ahead of the real one, which also runs between the
    // requests: windows of seconds leave a slow machine room. Idle: unused for longer than
    // 10 s.
    let (email, idle) = app.new_user("idle").await;
    assert_eq!(
        status_at(&app, &idle, 7_500).await,
        200,
        "within the idle time"
    );
    assert_eq!(
        status_at(&app, &idle, 18_000).await,
        401,
        "idle session expired"
    );
    assert_eq!(status_at(&app, &idle, 0).await, 401, "and deleted");

    // A session that idles out unseen is no longer listed by the one still in use.
    let unseen = app.browser(&email, PASSWORD).await;
    let watcher = app.browser(&email, PASSWORD).await;
    let listed_at = |advance_ms: u64| {
        let app = &app;
        let watcher = &watcher;
        async move {
            let list: serde_json::Value = app
                .as_browser(watcher, Method::GET, "/v1/auth/sessions")
                .header("x-test-clock-advance-ms", advance_ms.to_string())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            list["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(listed_at(0).await, 2);
    assert_eq!(
        status_at(&app, &watcher, 7_500).await,
        200,
        "the watcher is used"
    );
    assert_eq!(listed_at(12_500).await, 1, "the unseen one idled out");
    assert_eq!(status_at(&app, &unseen, 12_500).await, 401);

    // Absolute: used every 5.5 s (each use refreshes the idle deadline), still ends 20 s
    // after login.
    let active = app.browser(&email, PASSWORD).await;
    for advance in [5_500, 11_000, 16_500] {
        assert_eq!(
            status_at(&app, &active, advance).await,
            200,
            "active session refreshed at +{advance} ms"
        );
    }
    assert_eq!(
        status_at(&app, &active, 20_500).await,
        401,
        "absolute lifetime reached"
    );
}
