//! Signing in with a mailed link: the development mailer writes the message as a log line,
//! and the test reads the link from it as a person would from their inbox.

use crate::support::{
    app, app_on, assert_error, session_cookie, spawn, unique_email, Backend, Spawn, TestApp,
    ORIGIN, PASSWORD,
};
use futures_util::future::join_all;
use serde_json::{json, Value};

pub async fn request_link(app: &TestApp, email: &str) -> reqwest::Response {
    app.client()
        .post(app.at("/v1/auth/email-link"))
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap()
}

pub async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.client()
        .post(app.at("/v1/auth/email-link/verify"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap()
}

/// The link mailed to `email` last, from the Worker's log.
pub async fn mailed_link(app: &TestApp, email: &str) -> Option<String> {
    mailed_links(app, email, 1).await.pop()
}

#[tokio::test]
async fn a_mailed_link_signs_in_once() {
    let app = app();
    let email = unique_email("link");
    assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
    let resp = request_link(app, &email).await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("If an account"));

    let link = mailed_link(app, &email).await.expect("the link is mailed");
    let (page, token) = link
        .split_once("/#token=")
        .expect("the token is in the fragment");
    assert_eq!(
        page,
        app.at("").trim_end_matches('/'),
        "the link opens the page it came from"
    );
    assert_eq!(token.len(), 43);
    assert!(!app
        .log_text()
        .contains(&edge_api::auth::token::digest_hex(token.as_bytes())));

    let resp = verify(app, token).await;
    assert_eq!(resp.status(), 200);
    let cookie = session_cookie(&resp).expect("a session");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["user"]["email"], email.as_str());
    let me = app
        .client()
        .get(app.at("/v1/auth/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // Spent.
    let body = assert_error(verify(app, token).await, 401, "UNAUTHENTICATED").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("invalid, used or expired"));
}

#[tokio::test]
async fn a_fresh_link_sign_in_replaces_a_forgotten_password() {
    let app = app();
    let email = unique_email("forgot");
    assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
    assert_eq!(request_link(app, &email).await.status(), 202);
    let link = mailed_link(app, &email).await.expect("the link is mailed");
    let (_, token) = link.split_once("/#token=").unwrap();
    let resp = verify(app, token).await;
    assert_eq!(resp.status(), 200);
    let cookie = session_cookie(&resp).expect("a session");

    // No current password: the link just spent proves the mailbox, which is how the
    // account would be recovered anyway.
    let resp = app
        .client()
        .post(app.at("/v1/auth/password"))
        .header("cookie", &cookie)
        .header("origin", ORIGIN)
        .json(&json!({"new_password": "remembered this time"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(session_cookie(&resp).is_some(), "the session continues");
    assert_eq!(app.login(&email, PASSWORD).await.status(), 401);
    assert_eq!(
        app.login(&email, "remembered this time").await.status(),
        200
    );
}

/// Every link mailed to `email` so far, oldest first, once there are `count` (each line a
/// mail event with its subject).
async fn mailed_links(app: &TestApp, email: &str, count: usize) -> Vec<String> {
    for _ in 0..100 {
        // Security notices carry no link.
        let links: Vec<String> = app
            .mails_to(email)
            .into_iter()
            .filter(|mail| !mail["link"].is_null())
            .map(|mail| {
                assert_eq!(mail["event"], "mail");
                assert!(mail["subject"].as_str().unwrap().starts_with("Sign in to"));
                mail["link"].as_str().unwrap().to_owned()
            })
            .collect();
        if links.len() >= count {
            return links;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{count} links to {email} were not mailed");
}

#[tokio::test]
async fn signing_in_with_one_link_spends_the_accounts_other_links() {
    for backend in [Backend::D1, Backend::Turso] {
        let app = app_on(backend);
        let email = unique_email("many-links");
        assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
        for n in 1..=3 {
            assert_eq!(request_link(app, &email).await.status(), 202);
            mailed_links(app, &email, n).await;
        }
        let tokens: Vec<String> = mailed_links(app, &email, 3)
            .await
            .iter()
            .map(|l| l.split_once("#token=").unwrap().1.to_owned())
            .collect();
        assert_eq!(tokens.len(), 3, "{backend:?}");
        assert_eq!(verify(app, &tokens[1]).await.status(), 200, "{backend:?}");
        for token in [&tokens[0], &tokens[2]] {
            let resp = verify(app, token).await;
            assert_error(resp, 401, "UNAUTHENTICATED").await;
        }

        // Two of one account's links used at once: one session.
        for n in 4..=5 {
            assert_eq!(request_link(app, &email).await.status(), 202);
            mailed_links(app, &email, n).await;
        }
        let links = mailed_links(app, &email, 5).await;
        let [a, b] = [&links[3], &links[4]].map(|l| l.split_once("#token=").unwrap().1.to_owned());
        let (a, b) = futures_util::join!(verify(app, &a), verify(app, &b));
        let statuses = [a.status().as_u16(), b.status().as_u16()];
        assert!(
            statuses == [200, 401] || statuses == [401, 200],
            "{backend:?}: {statuses:?}"
        );
    }
}

#[tokio::test]
async fn requests_racing_for_one_link_sign_in_once() {
    // The link is spent by one atomic statement in the database, so however many requests
    // arrive together, one gets a session (on both backends).
    for backend in [Backend::D1, Backend::Turso] {
        let app = app_on(backend);
        let email = unique_email("race");
        assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
        assert_eq!(request_link(app, &email).await.status(), 202);
        let link = mailed_link(app, &email).await.expect("the link is mailed");
        let token = link.split_once("/#token=").unwrap().1.to_owned();
        let answers = join_all((0..8).map(|_| verify(app, &token))).await;
        let mut signed_in = 0;
        for resp in answers {
            if resp.status() == 200 {
                assert!(session_cookie(&resp).is_some());
                signed_in += 1;
            } else {
                assert_error(resp, 401, "UNAUTHENTICATED").await;
            }
        }
        assert_eq!(signed_in, 1, "{backend:?}: one session per link");
    }
}

#[tokio::test]
async fn unknown_addresses_get_the_same_answer_and_no_mail() {
    let app = app();
    let email = unique_email("ghost");
    let resp = request_link(app, &email).await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("If an account"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!app.log_text().contains(&format!("\"to\":\"{email}\"")));
}

#[tokio::test]
async fn links_expire_and_tokens_are_checked() {
    let app = app();
    let email = unique_email("late");
    assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
    assert_eq!(request_link(app, &email).await.status(), 202);
    let link = mailed_link(app, &email).await.unwrap();
    let token = link.split_once("#token=").unwrap().1.to_owned();
    // Sixteen minutes later (the test clock header is honoured only with TEST_ROUTES).
    let resp = app
        .client()
        .post(app.at("/v1/auth/email-link/verify"))
        .header("x-test-clock-advance-ms", (16 * 60 * 1000).to_string())
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "UNAUTHENTICATED").await;

    for (bad, issue) in [("short", "invalid_format"), ("", "invalid_format")] {
        let body = assert_error(verify(app, bad).await, 422, "VALIDATION_ERROR").await;
        assert_eq!(body["error"]["details"][0]["issue"], issue);
    }
    let unknown = edge_api::auth::webauthn::b64_encode(&[9u8; 32]);
    assert_error(verify(app, &unknown).await, 401, "UNAUTHENTICATED").await;
    let resp = app
        .client()
        .post(app.at("/v1/auth/email-link"))
        .json(&json!({"email": "not an address"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 422, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn production_without_a_mailer_has_no_e_mail_links() {
    let app = spawn(Spawn {
        env: Some(""),
        vars: vec![
            ("APP_ENV", "production".into()),
            ("CURSOR_SECRET", "0123456789abcdef0123456789abcdef".into()),
        ],
        ..Spawn::default()
    });
    let resp = request_link(&app, &unique_email("prod")).await;
    let body = assert_error(resp, 404, "NOT_FOUND").await;
    assert_eq!(body["error"]["message"], "E-mail links are not enabled.");
    // Passkeys too stay off until the relying party is configured.
    let resp = app
        .client()
        .post(app.at("/v1/auth/passkeys/login/options"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, 404, "NOT_FOUND").await;
    assert_eq!(body["error"]["message"], "Passkeys are not configured.");
}

#[tokio::test]
async fn a_mail_api_that_fails_changes_nothing_the_caller_sees() {
    // Nothing listens on port 9: the mail API cannot be reached.
    let app = spawn(Spawn::with_vars(&[
        ("MAIL_API_URL", "http://127.0.0.1:9/emails"),
        ("MAIL_API_TOKEN", "test-token"),
        ("MAIL_FROM", "login@example.test"),
        // Required beside a mail API: links never take their host from the request.
        ("APP_URL", "http://localhost:8787"),
    ]));
    let email = unique_email("unmailable");
    assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
    let resp = request_link(&app, &email).await;
    assert_eq!(resp.status(), 202, "the same answer as for any address");
    let warned = app.log_lines_with("email_link_not_sent").await;
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("mail API"), "{}", warned[0]);
    // The HTTP mailer never writes the message, or its link, to the log.
    assert!(!app.log_text().contains("#token="));
}

/// The database's bookmark, which answers that read the database carry, moves as far after a
/// request for an address with no account as after one for an address with one: what is
/// written after the answer does not tell them apart either.
#[tokio::test]
async fn the_database_moves_alike_for_known_and_unknown_addresses() {
    // A private instance: no other test writes to its database.
    let app = spawn(Spawn::default());
    let email = unique_email("moves");
    assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
    let mut moves = Vec::new();
    for (round, address) in [email.clone(), unique_email("moves-ghost")]
        .into_iter()
        .cycle()
        .take(4)
        .enumerate()
    {
        let before = app.d1_position().await;
        assert_eq!(request_link(&app, &address).await.status(), 202);
        if round % 2 == 0 {
            assert!(mailed_link(&app, &address).await.is_some());
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        moves.push(app.d1_position().await - before);
    }
    assert!(moves.iter().all(|m| *m == moves[0]), "{moves:?}");
}

/// Whoever signed up first with someone else's address keeps no way in once the owner proves
/// it with a link: the first proof removes the password set before it, and its sessions.
#[tokio::test]
async fn the_first_link_sign_in_removes_the_password_set_before_it() {
    let app = app();
    let email = unique_email("squatted");
    assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
    let squatter = app.browser(&email, PASSWORD).await;

    assert_eq!(request_link(app, &email).await.status(), 202);
    let link = mailed_link(app, &email).await.unwrap();
    let resp = verify(app, link.split_once("#token=").unwrap().1).await;
    assert_eq!(resp.status(), 200);
    let owner = crate::support::Browser {
        cookie: session_cookie(&resp).unwrap(),
    };
    assert_eq!(app.login(&email, PASSWORD).await.status(), 401);
    let me = |b: &crate::support::Browser| {
        app.as_browser(b, reqwest::Method::GET, "/v1/auth/me")
            .send()
    };
    assert_eq!(me(&squatter).await.unwrap().status(), 401);
    assert_eq!(me(&owner).await.unwrap().status(), 200);
    let notices = app.notices_to(&email, 1).await;
    assert_eq!(
        notices[0]["subject"],
        "Your address was confirmed (edge-api)"
    );
    assert!(notices[0]["text"]
        .as_str()
        .unwrap()
        .contains("before (the password) was removed"));

    // The owner's own password, set now, survives the next link: only the first one proves.
    let resp = app
        .as_browser(&owner, reqwest::Method::POST, "/v1/auth/password")
        .json(&json!({"new_password": "the owner's own passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(request_link(app, &email).await.status(), 202);
    let second = mailed_links(app, &email, 2).await.pop().unwrap();
    assert_ne!(second, link);
    let resp = verify(app, second.split_once("#token=").unwrap().1).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        app.login(&email, "the owner's own passphrase")
            .await
            .status(),
        200
    );
    let subjects: Vec<Value> = app
        .notices_to(&email, 2)
        .await
        .iter()
        .map(|n| n["subject"].clone())
        .collect();
    assert_eq!(
        subjects,
        [
            json!("Your address was confirmed (edge-api)"),
            json!("A password was added to your account (edge-api)")
        ]
    );
}
