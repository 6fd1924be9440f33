//! The Cron Trigger's clean-up (`scheduled`), run through Miniflare's trigger endpoint on
//! private instances (it deletes what has expired for everyone, so no shared instance),
//! without the page's assets (Miniflare would send the trigger to the assets router).

use crate::support::{private_turso_server, spawn, Spawn, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Runs the scheduled handler as of `time` (Unix ms).
async fn run_scheduled(app: &TestApp, time: u64) -> reqwest::Response {
    app.client()
        .get(app.at(&format!("/cdn-cgi/handler/scheduled?time={time}")))
        .send()
        .await
        .unwrap()
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    u64::try_from(since.unwrap().as_millis()).unwrap()
}

/// Two keyed notes, a sign-in link and a passkey challenge, all filed now.
async fn file_expiring_rows(app: &TestApp) -> String {
    let (email, user) = app.new_user("purge").await;
    for key in ["purge-a", "purge-b"] {
        let resp = app
            .as_browser(&user, Method::POST, "/v1/notes")
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
    let options = app
        .client()
        .post(app.at("/v1/auth/passkeys/login/options"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), 200);
    app.get_json(&user, "/v1/auth/me").await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The purge's log line, once written.
async fn purge_line(app: &TestApp) -> Value {
    let lines = app.log_lines_with("\"event\":\"purge\"").await;
    let line = lines.last().expect("the purge logs a line");
    serde_json::from_str(&line[line.find('{').unwrap()..]).unwrap()
}

#[tokio::test]
async fn the_scheduled_purge_deletes_what_has_expired_and_nothing_else() {
    let sqld = private_turso_server();
    let app = spawn(Spawn {
        vars: sqld.worker_vars(),
        no_assets: true,
        ..Spawn::default()
    });
    let owner = file_expiring_rows(&app).await;
    // The link is filed after the answer: wait for it.
    let links = || sqld.scalar("SELECT count(*) FROM sign_in_links", &[]);
    for _ in 0..50 {
        if links().await["value"] == "1" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The owner's rows; the challenge names no account, and this sqld serves no one else.
    let count = |table: &'static str| {
        let (sql, args): (&str, Vec<&str>) = match table {
            "idempotency_keys" => (
                "SELECT count(*) FROM idempotency_keys WHERE owner_id = ?",
                vec![&owner],
            ),
            "sign_in_links" => (
                "SELECT count(*) FROM sign_in_links WHERE user_id = ?",
                vec![&owner],
            ),
            _ => ("SELECT count(*) FROM webauthn_challenges", vec![]),
        };
        let sqld = &sqld;
        async move { sqld.scalar(sql, &args).await["value"].clone() }
    };
    assert_eq!(count("idempotency_keys").await, "2");
    assert_eq!(count("sign_in_links").await, "1");
    assert_eq!(count("webauthn_challenges").await, "1");

    // An hour on, only the challenge (minutes) and the link (15 minutes) have expired.
    let resp = run_scheduled(&app, now_ms() + 3_600_000).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");
    assert_eq!(count("idempotency_keys").await, "2");
    assert_eq!(count("sign_in_links").await, "0");
    assert_eq!(count("webauthn_challenges").await, "0");
    let line = purge_line(&app).await;
    assert_eq!(
        (
            &line["level"],
            &line["sign_in_links"],
            &line["webauthn_challenges"]
        ),
        (&json!("info"), &json!(1), &json!(1))
    );
    assert_eq!((&line["rounds"], &line["more"]), (&json!(1), &json!(false)));

    // A day and an hour on, the idempotency keys too; the notes stay.
    assert_eq!(
        run_scheduled(&app, now_ms() + 25 * 3_600_000)
            .await
            .status(),
        200
    );
    assert_eq!(count("idempotency_keys").await, "0");
    assert_eq!(
        sqld.scalar("SELECT count(*) FROM notes WHERE owner_id = ?", &[&owner])
            .await["value"],
        "2"
    );

    // Each table's round reads through its `expires_at` index, not the whole table.
    for table in ["idempotency_keys", "sign_in_links", "webauthn_challenges"] {
        let plan = sqld
            .rows(
                &format!(
                    "EXPLAIN QUERY PLAN DELETE FROM {table} WHERE rowid IN \
                     (SELECT rowid FROM {table} WHERE expires_at <= 1 LIMIT 5000)"
                ),
                &[],
            )
            .await;
        let steps: Vec<&str> = plan.iter().filter_map(|r| r[3]["value"].as_str()).collect();
        assert!(
            steps
                .iter()
                .any(|s| s.contains(&format!("INDEX {table}_expires_at (expires_at<?)"))),
            "{table}: {steps:?}"
        );
        assert!(
            !steps.iter().any(|s| *s == format!("SCAN {table}")),
            "{table}: {steps:?}"
        );
    }
}

#[tokio::test]
async fn the_purge_runs_on_d1_and_a_failure_is_logged_and_reported() {
    let app = spawn(Spawn {
        no_assets: true,
        ..Spawn::default()
    });
    file_expiring_rows(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let resp = run_scheduled(&app, now_ms() + 25 * 3_600_000).await;
    assert_eq!(resp.status(), 200);
    let line = purge_line(&app).await;
    assert_eq!(line["idempotency_keys"], 2, "{line}");
    assert_eq!(line["sign_in_links"], 1, "{line}");
    assert_eq!(line["webauthn_challenges"], 1, "{line}");

    // Without its database, the run fails: the runtime records it, the log says why.
    let broken = spawn(Spawn {
        drop_bindings: vec!["DB"],
        no_assets: true,
        ..Spawn::default()
    });
    let resp = run_scheduled(&broken, now_ms()).await;
    assert_eq!(resp.status(), 500);
    let line = purge_line(&broken).await;
    assert_eq!(line["level"], "error", "{line}");
    assert!(
        line["cause"].as_str().is_some_and(|c| !c.is_empty()),
        "{line}"
    );
}
