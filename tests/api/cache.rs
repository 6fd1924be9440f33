//! The read cache against real servers: L1 in the Worker's isolate, L2 in a real Redis behind
//! the Upstash-compatible REST front. Every response that used the cache names its outcome in
//! `Server-Timing`; these tests read it to tell the layers apart.

use crate::support::{
    app, cache_servers, header, private_turso_server, spawn, Browser, CacheServers, TestApp,
};
use futures_util::future::join_all;
use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

/// The Redis and REST front shared by this module's tests.
fn servers() -> &'static CacheServers {
    static SERVERS: OnceLock<CacheServers> = OnceLock::new();
    SERVERS.get_or_init(cache_servers)
}

/// A Worker with both layers.
fn app_l1_l2() -> &'static TestApp {
    static APP: OnceLock<TestApp> = OnceLock::new();
    APP.get_or_init(|| spawn(servers().worker_vars(&[])))
}

/// A Worker with L2 only, so every hit is an L2 hit.
fn app_l2() -> &'static TestApp {
    static APP: OnceLock<TestApp> = OnceLock::new();
    APP.get_or_init(|| spawn(servers().worker_vars(&[("CACHE_L1_MAX_ENTRIES", "0")])))
}

/// The cache outcome and duration from `Server-Timing: cache;desc=<outcome>;dur=<ms>`.
fn cache_timing(resp: &Response) -> Option<(String, u64)> {
    let value = header(resp.headers(), "server-timing")?;
    let metric = value
        .split(',')
        .map(str::trim)
        .find(|m| m.starts_with("cache;"))?;
    let mut outcome = None;
    let mut dur = None;
    for param in metric.split(';').skip(1) {
        match param.split_once('=') {
            Some(("desc", v)) => outcome = Some(v.to_owned()),
            Some(("dur", v)) => dur = v.parse().ok(),
            _ => {}
        }
    }
    Some((outcome?, dur?))
}

fn outcome(resp: &Response) -> String {
    cache_timing(resp).map(|(o, _)| o).unwrap_or_default()
}

async fn create(app: &TestApp, user: &Browser, title: &str) -> Value {
    let resp = app
        .as_browser(user, Method::POST, "/v1/notes")
        .json(&json!({"title": title, "body": "text", "tags": ["t"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(outcome(&resp), "invalidated");
    resp.json().await.unwrap()
}

async fn get(app: &TestApp, user: &Browser, path: &str) -> Response {
    app.as_browser(user, Method::GET, path)
        .send()
        .await
        .unwrap()
}

/// GETs `path` and returns (status, outcome, body).
async fn read(app: &TestApp, user: &Browser, path: &str) -> (u16, String, Value) {
    let resp = get(app, user, path).await;
    let status = resp.status().as_u16();
    let outcome = outcome(&resp);
    let body = if status == 200 {
        resp.json().await.unwrap()
    } else {
        Value::Null
    };
    (status, outcome, body)
}

async fn user_id(app: &TestApp, user: &Browser) -> String {
    let me = app.get_json(user, "/v1/auth/me").await;
    me["user"]["id"].as_str().unwrap().to_owned()
}

fn note_key(user_id: &str, note_id: &str) -> String {
    format!("edge-api:c1:u:{user_id}:note:{note_id}")
}

async fn stats(app: &TestApp) -> Value {
    let resp = app
        .client()
        .get(app.at("/v1/_test/cache-stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap()["stats"].clone()
}

#[tokio::test]
async fn repeat_reads_come_from_l1_when_no_upstash_is_configured() {
    let app = app();
    let (_, user) = app.new_user("l1").await;
    let note = create(app, &user, "L1").await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());

    let first = get(app, &user, &path).await;
    assert_eq!(first.status(), 200);
    assert_eq!(outcome(&first), "miss");
    let etag = header(first.headers(), "etag").unwrap().to_owned();
    let first_body: Value = first.json().await.unwrap();
    assert_eq!(first_body, note);

    let second = get(app, &user, &path).await;
    assert_eq!(second.status(), 200);
    assert_eq!(outcome(&second), "l1-hit");
    assert_eq!(header(second.headers(), "etag"), Some(etag.as_str()));
    assert_eq!(
        header(second.headers(), "cache-control"),
        Some("private, no-cache")
    );
    let request_id = header(second.headers(), "x-request-id").unwrap().to_owned();
    assert_eq!(second.json::<Value>().await.unwrap(), note);
    let line = app.request_log(&request_id).await;
    assert_eq!(line["cache"], "l1-hit");
    assert!(line.get("cache_error").is_none());
}

#[tokio::test]
async fn each_layer_reports_its_hits_and_l2_holds_the_entry() {
    for (app, second) in [(app_l1_l2(), "l1-hit"), (app_l2(), "l2-hit")] {
        let (_, user) = app.new_user("layers").await;
        let note = create(app, &user, "Layers").await;
        let id = note["id"].as_str().unwrap();
        let path = format!("/v1/notes/{id}");
        assert_eq!(
            read(app, &user, &path).await,
            (200, "miss".into(), note.clone())
        );
        assert_eq!(
            read(app, &user, &path).await,
            (200, second.into(), note.clone())
        );
        assert_eq!(
            read(app, &user, &path).await,
            (200, second.into(), note.clone())
        );

        let key = note_key(&user_id(app, &user).await, id);
        let stored = servers().command(&["GET", &key]).await;
        let stored = stored.as_str().expect("the entry is in Redis");
        let fields: Vec<&str> = stored.splitn(5, '|').collect();
        assert_eq!(fields[3], "\"v1\"", "ETag stored with the body");
        assert_eq!(serde_json::from_str::<Value>(fields[4]).unwrap(), note);
        // L2 keeps the entry for its freshness plus the stale window (60 s + 300 s).
        let ttl = servers().command(&["PTTL", &key]).await.as_i64().unwrap();
        assert!((300_000..=360_000).contains(&ttl), "{ttl}");
    }
}

#[tokio::test]
async fn a_read_after_any_write_never_returns_what_the_write_replaced() {
    for app in [app_l1_l2(), app_l2(), crate::support::app()] {
        let (_, user) = app.new_user("ryw").await;
        let note = create(app, &user, "v0").await;
        let id = note["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/notes/{id}");
        // Warm both the note and the list page.
        read(app, &user, &path).await;
        read(app, &user, "/v1/notes").await;

        for i in 1..=10 {
            let title = format!("v{i}");
            let resp = app
                .as_browser(&user, Method::PATCH, &path)
                .json(&json!({"title": title}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(outcome(&resp), "invalidated");
            let (status, _, body) = read(app, &user, &path).await;
            assert_eq!(
                (status, body["title"].as_str()),
                (200, Some(title.as_str()))
            );
            assert_eq!(body["version"], i + 1);
            let (_, _, list) = read(app, &user, "/v1/notes").await;
            assert_eq!(list["items"][0]["title"], title.as_str());
            // And the next read is a hit of the new value, not the old one.
            let (_, hit, body) = read(app, &user, &path).await;
            assert_ne!(hit, "miss");
            assert_eq!(body["title"], title.as_str());
        }

        let other = create(app, &user, "second").await;
        let (_, _, list) = read(app, &user, "/v1/notes").await;
        assert_eq!(
            list["items"][0]["id"], other["id"],
            "POST shows in the list"
        );

        let resp = app
            .as_browser(&user, Method::DELETE, &path)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
        assert_eq!(outcome(&resp), "invalidated");
        let (status, _, _) = read(app, &user, &path).await;
        assert_eq!(status, 404, "DELETE: the note is gone");
        let (_, _, list) = read(app, &user, "/v1/notes").await;
        let ids: Vec<&Value> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| &n["id"])
            .collect();
        assert_eq!(ids, [&other["id"]], "DELETE: gone from the list");
    }
}

#[tokio::test]
async fn a_version_moved_by_another_isolate_invalidates_this_isolates_l1() {
    let app = app_l1_l2();
    let (_, user) = app.new_user("isolates").await;
    let note = create(app, &user, "Shared").await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());
    read(app, &user, &path).await;
    assert_eq!(read(app, &user, &path).await.1, "l1-hit");
    // What a write served by another isolate does to L2.
    let ver = format!("edge-api:c1:u:{}:ver", user_id(app, &user).await);
    assert!(servers().command(&["INCR", &ver]).await.is_i64());
    assert_eq!(read(app, &user, &path).await.1, "miss");
    assert_eq!(read(app, &user, &path).await.1, "l1-hit");
}

#[tokio::test]
async fn an_undecodable_entry_is_deleted_and_read_from_the_database() {
    let app = app_l2();
    let (_, user) = app.new_user("garbage").await;
    let note = create(app, &user, "Intact").await;
    let id = note["id"].as_str().unwrap();
    let path = format!("/v1/notes/{id}");
    read(app, &user, &path).await;
    let key = note_key(&user_id(app, &user).await, id);
    assert_eq!(
        servers().command(&["SET", &key, "not|an entry"]).await,
        "OK"
    );

    assert_eq!(
        read(app, &user, &path).await,
        (200, "miss".into(), note.clone())
    );
    let warned = app.log_lines_with(&key).await;
    assert!(
        warned.iter().any(|l| l.contains("cache_entry_undecodable")),
        "{warned:?}"
    );
    let stored = servers().command(&["GET", &key]).await;
    let body = stored.as_str().and_then(|s| s.splitn(5, '|').nth(4));
    let refilled: Value = serde_json::from_str(body.expect("refilled entry")).unwrap();
    assert_eq!(refilled, note);
    assert_eq!(read(app, &user, &path).await, (200, "l2-hit".into(), note));
}

#[tokio::test]
async fn fifty_concurrent_cold_reads_cause_one_database_read() {
    // A private Worker: the counters must see no other test's traffic. The burst puts fifty
    // requests' CPU on one isolate's event loop, which can delay an L2 answer past the 50 ms
    // default; this test is about coalescing, so L2 gets a budget the queue cannot exhaust.
    let app = spawn(servers().worker_vars(&[("CACHE_TIMEOUT_MS", "3000")]));
    let (_, user) = app.new_user("stampede").await;
    let note = create(&app, &user, "Hot").await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());
    let before = stats(&app).await;

    let reads = (0..50).map(|_| read(&app, &user, &path));
    let results = join_all(reads).await;

    let after = stats(&app).await;
    let loads = after["loads"].as_u64().unwrap() - before["loads"].as_u64().unwrap();
    let outcomes: Vec<&str> = results.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        loads, 1,
        "database reads for 50 cold requests: {outcomes:?} {after}"
    );
    assert!(results
        .iter()
        .all(|(status, _, body)| *status == 200 && *body == note));
    let misses = outcomes.iter().filter(|o| **o == "miss").count();
    assert_eq!(misses, 1, "{outcomes:?}");
    // A request whose lookup reaches Redis after the one miss stored its entry is an L2
    // hit; how many do depends on scheduling, never on the database.
    assert!(
        outcomes
            .iter()
            .all(|o| ["miss", "coalesced", "l1-hit", "l2-hit"].contains(o)),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn list_pages_carry_weak_etags_and_answer_304_from_the_cache() {
    let app = app_l1_l2();
    let (_, user) = app.new_user("list-etag").await;
    create(app, &user, "one").await;
    let first = get(app, &user, "/v1/notes?limit=5").await;
    assert_eq!(outcome(&first), "miss");
    assert_eq!(
        header(first.headers(), "cache-control"),
        Some("private, no-cache")
    );
    let etag = header(first.headers(), "etag").unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");

    let again = app
        .as_browser(&user, Method::GET, "/v1/notes?limit=5")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(outcome(&again), "l1-hit");
    assert_eq!(header(again.headers(), "etag"), Some(etag.as_str()));

    create(app, &user, "two").await;
    let changed = app
        .as_browser(&user, Method::GET, "/v1/notes?limit=5")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(outcome(&changed), "miss");
    assert_ne!(header(changed.headers(), "etag"), Some(etag.as_str()));
    let list: Value = changed.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn auth_responses_and_cookie_setting_responses_never_touch_the_cache() {
    let app = app_l1_l2();
    let email = crate::support::unique_email("no-cache");
    let signup = app.signup(&email, crate::support::PASSWORD).await;
    assert_eq!(signup.status(), 201);
    assert_eq!(cache_timing(&signup), None);
    let login = app.login(&email, crate::support::PASSWORD).await;
    assert_eq!(login.status(), 200);
    assert!(!crate::support::set_cookies(&login).is_empty());
    assert_eq!(cache_timing(&login), None);
    let user = Browser {
        cookie: crate::support::session_cookie(&login).unwrap(),
    };
    for _ in 0..2 {
        let me = get(app, &user, "/v1/auth/me").await;
        assert_eq!(me.status(), 200);
        assert_eq!(cache_timing(&me), None);
        assert_eq!(header(me.headers(), "cache-control"), Some("no-store"));
    }
    // A request refused for its session clears the cookie and is not cached either.
    let stale = Browser {
        cookie: "__Host-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    };
    let resp = get(app, &stale, "/v1/notes").await;
    assert_eq!(resp.status(), 401);
    assert_eq!(cache_timing(&resp), None);
}

#[tokio::test]
async fn requests_succeed_within_the_timeout_while_redis_is_paused_then_killed() {
    // The timeout this test proves; longer than the 50 ms default only so the set-up steps
    // never time out on a busy test machine.
    const TIMEOUT_MS: u64 = 250;
    let servers = cache_servers();
    let app = spawn(servers.worker_vars(&[("CACHE_TIMEOUT_MS", &TIMEOUT_MS.to_string())]));
    let (_, user) = app.new_user("outage").await;
    let note = create(&app, &user, "before").await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());
    assert_eq!(read(&app, &user, &path).await.1, "miss");
    assert_eq!(read(&app, &user, &path).await.1, "l1-hit");

    // Paused: the REST front accepts requests but Redis never answers.
    servers.signal_redis("STOP");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let send = |method: Method, body: Option<Value>| {
        let mut req = client
            .request(method, app.at(&path))
            .header("cookie", &user.cookie)
            .header("origin", crate::support::ORIGIN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send()
    };
    let first = send(Method::GET, None)
        .await
        .expect("answered while Redis is paused");
    assert_eq!(first.status(), 200);
    let (served, dur) = cache_timing(&first).unwrap();
    assert_eq!(served, "bypass");
    // The cache waited for its timeout, and only that long.
    assert!(
        (TIMEOUT_MS - 10..TIMEOUT_MS + 1000).contains(&dur),
        "{dur} ms in the cache"
    );
    let request_id = header(first.headers(), "x-request-id").unwrap().to_owned();
    assert_eq!(first.json::<Value>().await.unwrap(), note);
    let line = app.request_log(&request_id).await;
    assert_eq!(line["status"], 200);
    assert_eq!(line["cache"], "bypass");
    assert_eq!(line["cache_error"], "L2 timeout");

    for _ in 0..5 {
        let resp = send(Method::GET, None).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(cache_timing(&resp).unwrap().0, "bypass");
    }
    // Counted once, then left alone: the other five never asked Redis.
    let counted = stats(&app).await;
    assert_eq!(counted["remote_errors"], 1, "{counted}");
    assert_eq!(counted["bypasses"], 6, "{counted}");
    // A write while L2 is out: it succeeds, and its increment waits.
    let patched = send(Method::PATCH, Some(json!({"title": "during"})))
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(cache_timing(&patched).unwrap().0, "invalidation-deferred");
    let warned = app.log_lines_with("cache_invalidation_deferred").await;
    assert_eq!(warned.len(), 1, "one warning line: {warned:?}");
    let resp = send(Method::GET, None).await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["title"], "during");

    // Back: after the pause window the deferred increment lands before anything is read, so
    // the entry filled before the write is never served.
    servers.signal_redis("CONT");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, served, body) = read(&app, &user, &path).await;
    assert_eq!((status, served.as_str()), (200, "miss"));
    assert_eq!(body["title"], "during");
    assert_eq!(read(&app, &user, &path).await.1, "l1-hit");

    // Gone for good: the front answers errors at once.
    servers.signal_redis("KILL");
    let resp = send(Method::GET, None).await.unwrap();
    assert_eq!(resp.status(), 200);
    let request_id = header(resp.headers(), "x-request-id").unwrap().to_owned();
    assert_eq!(cache_timing(&resp).unwrap().0, "bypass");
    assert_eq!(resp.json::<Value>().await.unwrap()["title"], "during");
    let line = app.request_log(&request_id).await;
    assert!(
        line["cache_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("L2 unavailable: HTTP 5")),
        "{line}"
    );
    let list = get(&app, &user, "/v1/notes").await;
    assert_eq!(list.status(), 200);
    assert_eq!(outcome(&list), "bypass");
}

#[tokio::test]
async fn while_another_isolate_holds_the_refill_lock_a_stale_entry_is_served() {
    // Entries fresh for 1 s; L1 off so the stale entry comes from L2.
    let app =
        spawn(servers().worker_vars(&[("CACHE_TTL_SECS", "1"), ("CACHE_L1_MAX_ENTRIES", "0")]));
    let (_, user) = app.new_user("swr").await;
    let note = create(&app, &user, "Stale").await;
    let id = note["id"].as_str().unwrap();
    let path = format!("/v1/notes/{id}");
    assert_eq!(read(&app, &user, &path).await.1, "miss");
    let uid = user_id(&app, &user).await;
    let version = servers()
        .command(&["GET", &format!("edge-api:c1:u:{uid}:ver")])
        .await;
    let lock = format!("{}#{}:lock", note_key(&uid, id), version.as_str().unwrap());

    // Another isolate is refilling this entry: the lock is taken.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        servers()
            .command(&["SET", &lock, "other-isolate", "PX", "60000"])
            .await,
        "OK"
    );
    assert_eq!(
        read(&app, &user, &path).await,
        (200, "stale".into(), note.clone())
    );
    assert_eq!(read(&app, &user, &path).await.1, "stale");

    // The lock is gone (its holder failed): this request refills.
    assert_eq!(servers().command(&["DEL", &lock]).await, 1);
    assert_eq!(read(&app, &user, &path).await.1, "miss");
    assert_eq!(read(&app, &user, &path).await.1, "l2-hit");

    // A cold key whose lock is held: the request looks again briefly, then loads itself.
    let other = create(&app, &user, "Cold").await;
    let other_id = other["id"].as_str().unwrap();
    let version = servers()
        .command(&["GET", &format!("edge-api:c1:u:{uid}:ver")])
        .await;
    let lock = format!(
        "{}#{}:lock",
        note_key(&uid, other_id),
        version.as_str().unwrap()
    );
    servers()
        .command(&["SET", &lock, "other-isolate", "PX", "60000"])
        .await;
    let resp = get(&app, &user, &format!("/v1/notes/{other_id}")).await;
    assert_eq!(resp.status(), 200);
    let (served, waited) = cache_timing(&resp).unwrap();
    assert_eq!(served, "miss");
    assert!(
        waited >= 100,
        "polled for the other isolate's entry: {waited} ms"
    );
    assert_eq!(resp.json::<Value>().await.unwrap(), other);
}

#[tokio::test]
async fn fifty_concurrent_cold_reads_cause_one_query_by_the_databases_own_count() {
    // A private sqld and Worker, so sqld's query counter sees only this test.
    let db = private_turso_server();
    let mut opts = servers().worker_vars(&[("CACHE_TIMEOUT_MS", "3000")]);
    opts.vars.extend(db.worker_vars());
    let app = spawn(opts);
    let (_, user) = app.new_user("stampede-sqld").await;
    let note = create(&app, &user, "Hot").await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());

    let before = db.query_count().await;
    let results = join_all((0..50).map(|_| read(&app, &user, &path))).await;
    let after = db.query_count().await;

    assert!(results
        .iter()
        .all(|(status, _, body)| *status == 200 && *body == note));
    assert_eq!(after - before, 1, "queries sqld ran for 50 cold reads");
}
