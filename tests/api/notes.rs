//! The notes resource, run against both backends (D1 and Turso via sqld) with the same
//! assertions: creation, validation, conditional requests, ownership, pagination, merge
//! patches, deletion, admin reads and idempotency keys.

use crate::support::{app_on, assert_error, header, Backend, Browser, TestApp};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(
    create_answers_201_with_location_etag_and_the_note,
    create_validates_every_field,
    get_answers_304_when_the_etag_matches,
    other_users_notes_are_404_like_missing_ones,
    list_pages_newest_first_with_signed_cursors,
    list_filters_by_tag,
    patch_changes_only_writable_fields,
    stale_if_match_is_rejected_with_412,
    delete_answers_204_then_404,
    admins_read_any_note_users_cannot,
    idempotency_key_replays_the_first_response,
    concurrent_requests_with_one_key_create_one_note,
);

async fn create_note(app: &TestApp, user: &Browser, body: Value) -> reqwest::Response {
    app.as_browser(user, Method::POST, "/v1/notes")
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn new_note(app: &TestApp, user: &Browser, title: &str, tags: &[&str]) -> Value {
    let resp = create_note(
        app,
        user,
        json!({"title": title, "body": "text", "tags": tags}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

async fn create_answers_201_with_location_etag_and_the_note(backend: Backend) {
    let app = app_on(backend);
    let (_, user) = app.new_user("notes").await;
    let resp = create_note(
        app,
        &user,
        // Two- to four-byte UTF-8 (`é`, `✓`, an emoji outside the BMP): the answer's text body
        // crosses into JavaScript and back and must come out byte for byte.
        json!({"title": "  First  ", "body": "Hello\nworld ✓ é 🗒️", "tags": ["a", "b-2"]}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let location = header(resp.headers(), "location").unwrap().to_owned();
    let etag = header(resp.headers(), "etag").unwrap().to_owned();
    let note: Value = resp.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/notes/{}", note["id"].as_str().unwrap())
    );
    assert_eq!(etag, "\"v1\"");
    assert_eq!(note["title"], "First");
    assert_eq!(note["body"], "Hello\nworld ✓ é 🗒️");
    assert_eq!(note["tags"], json!(["a", "b-2"]));
    assert_eq!(note["version"], 1);
    assert_eq!(note["created_at"], note["updated_at"]);
    let mut keys: Vec<_> = note.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "body",
            "created_at",
            "id",
            "tags",
            "title",
            "updated_at",
            "version"
        ]
    );

    // The stored note reads back identically, large integers included.
    let resp = app
        .as_browser(&user, Method::GET, &location)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let read: Value = resp.json().await.unwrap();
    assert_eq!(read, note);
    // An over-encoded id (`%2D` for `-`, RFC 3986 §6.2.2.2) names the same note.
    let resp = app
        .as_browser(&user, Method::GET, &location.replace('-', "%2D"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), note);

    // A body of exactly 64 KiB is accepted.
    let big = "x".repeat(64 * 1024);
    let resp = create_note(app, &user, json!({"title": "Big", "body": big})).await;
    assert_eq!(resp.status(), 201);

    // `null` on an optional field is the field left out, as everywhere in the API.
    let resp = create_note(
        app,
        &user,
        json!({"title": "Nulls", "body": null, "tags": null}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let made: Value = resp.json().await.unwrap();
    assert_eq!(
        (made["body"].clone(), made["tags"].clone()),
        (json!(""), json!([]))
    );
}

async fn create_validates_every_field(backend: Backend) {
    let app = app_on(backend);
    let (_, user) = app.new_user("invalid").await;
    let resp = create_note(
        app,
        &user,
        json!({"title": "", "body": "x".repeat(64 * 1024 + 1), "tags": ["Bad Tag"]}),
    )
    .await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"],
        json!([
            {"field": "title", "issue": "empty"},
            {"field": "body", "issue": "too_long"},
            {"field": "tags", "issue": "invalid_characters"}
        ])
    );
    // A title of only a byte order mark is blank, as the documented pattern has it.
    let resp = create_note(app, &user, json!({"title": "\u{feff}"})).await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"],
        json!([{"field": "title", "issue": "empty"}])
    );
    let many: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
    let resp = create_note(app, &user, json!({"title": "x".repeat(201), "tags": many})).await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"],
        json!([
            {"field": "title", "issue": "too_long"},
            {"field": "tags", "issue": "too_many"}
        ])
    );
    // No mass assignment: server-owned fields are refused, not ignored.
    let resp = create_note(
        app,
        &user,
        json!({"title": "t", "id": "mine", "owner_id": "someone", "created_at": 1}),
    )
    .await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    let fields: Vec<_> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["field"].as_str().unwrap(), d["issue"].as_str().unwrap()))
        .collect();
    for f in ["id", "owner_id", "created_at"] {
        assert!(fields.contains(&(f, "unknown_field")), "{fields:?}");
    }
}

async fn get_answers_304_when_the_etag_matches(backend: Backend) {
    let app = app_on(backend);
    let (_, user) = app.new_user("etag").await;
    let note = new_note(app, &user, "Cached", &[]).await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());
    let resp = app
        .as_browser(&user, Method::GET, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(resp.headers(), "cache-control"),
        Some("private, no-cache")
    );
    let etag = header(resp.headers(), "etag").unwrap().to_owned();

    for value in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"v99\", {etag}"),
    ] {
        let resp = app
            .as_browser(&user, Method::GET, &path)
            .header("if-none-match", value)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 304);
        assert_eq!(header(resp.headers(), "etag"), Some(etag.as_str()));
        assert!(resp.bytes().await.unwrap().is_empty());
    }
    let resp = app
        .as_browser(&user, Method::GET, &path)
        .header("if-none-match", "\"v99\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn other_users_notes_are_404_like_missing_ones(backend: Backend) {
    let app = app_on(backend);
    let (_, owner) = app.new_user("owner").await;
    let (_, other) = app.new_user("other").await;
    let note = new_note(app, &owner, "Private", &[]).await;
    let theirs = format!("/v1/notes/{}", note["id"].as_str().unwrap());
    let missing = "/v1/notes/0190b0a0-0000-7000-8000-000000000000";
    // Malformed ids name nothing: the same 404 on every method, even for the owner's note
    // written in another form.
    let uppercase = theirs.to_uppercase().replace("/V1/NOTES/", "/v1/notes/");
    for path in [theirs.as_str(), missing, "/v1/notes/not-a-uuid", &uppercase] {
        let get = app
            .as_browser(&other, Method::GET, path)
            .send()
            .await
            .unwrap();
        let get = assert_error(get, 404, "NOT_FOUND").await;
        let patch = app
            .as_browser(&other, Method::PATCH, path)
            .json(&json!({"title": "mine now"}))
            .send()
            .await
            .unwrap();
        let patch = assert_error(patch, 404, "NOT_FOUND").await;
        let delete = app
            .as_browser(&other, Method::DELETE, path)
            .send()
            .await
            .unwrap();
        let delete = assert_error(delete, 404, "NOT_FOUND").await;
        for body in [get, patch, delete] {
            assert_eq!(
                body["error"]["message"],
                "The requested resource was not found."
            );
        }
    }
    let resp = app
        .as_browser(&owner, Method::GET, &uppercase)
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "NOT_FOUND").await;
    let (_, admin) = app.new_admin().await;
    for path in [
        "/v1/admin/notes/not-a-uuid",
        "/v1/admin/notes/0190b0a0-0000-7000-8000-000000000000",
    ] {
        let resp = app
            .as_browser(&admin, Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_error(resp, 404, "NOT_FOUND").await;
    }
    let resp = app
        .as_browser(&owner, Method::GET, &theirs)
        .send()
        .await
        .unwrap();
    let still: Value = resp.json().await.unwrap();
    assert_eq!(still["title"], "Private");
    let list: Value = app.get_json(&other, "/v1/notes").await;
    assert_eq!(list["items"], json!([]));
}

async fn list_page(app: &TestApp, user: &Browser, query: &str) -> reqwest::Response {
    app.as_browser(user, Method::GET, &format!("/v1/notes{query}"))
        .send()
        .await
        .unwrap()
}

async fn list_pages_newest_first_with_signed_cursors(backend: Backend) {
    let app = app_on(backend);
    let (_, user) = app.new_user("pages").await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(new_note(app, &user, &format!("n{i}"), &[]).await["id"].clone());
    }
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_string();
    let mut pages = 0;
    loop {
        let body: Value = list_page(app, &user, &query).await.json().await.unwrap();
        pages += 1;
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|n| n["id"].clone()));
        match body["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    created.reverse();
    assert_eq!(seen, created, "newest first, every note exactly once");

    // Default page size holds all five; the last page has a null cursor.
    let body: Value = list_page(app, &user, "").await.json().await.unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), 5);
    assert_eq!(body["next_cursor"], Value::Null);

    let first: Value = list_page(app, &user, "?limit=2")
        .await
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let tampered = format!("{}x{}", &cursor[..3], &cursor[4..]);
    let resp = list_page(app, &user, &format!("?cursor={tampered}")).await;
    assert_error(resp, 400, "BAD_REQUEST").await;
    // A cursor works only for the caller it was issued to.
    let (_, other) = app.new_user("pages-other").await;
    let resp = list_page(app, &other, &format!("?limit=2&cursor={cursor}")).await;
    let body = assert_error(resp, 400, "BAD_REQUEST").await;
    assert_eq!(
        body["error"]["message"],
        "The pagination cursor is not valid."
    );
    let resp = list_page(app, &user, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(resp.status(), 200);
    for (bad, issue) in [
        ("?limit=101", "out_of_range"),
        ("?limit=0", "out_of_range"),
        ("?limit=-1", "out_of_range"),
        ("?limit=99999999999999999999", "out_of_range"),
        ("?limit=abc", "expected_integer"),
        ("?limit=1.5", "expected_integer"),
    ] {
        let resp = list_page(app, &user, bad).await;
        let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "limit", "issue": issue}]),
            "{bad}"
        );
    }
    // A parameter given twice is refused, whichever value a cache in front would have taken.
    for (query, field) in [
        ("?limit=1&limit=2".to_owned(), "limit"),
        (format!("?cursor={cursor}&cursor={cursor}"), "cursor"),
        ("?tag=red&limit=2&tag=blue".to_owned(), "tag"),
    ] {
        let resp = list_page(app, &user, &query).await;
        let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
        assert_eq!(
            body["error"]["details"],
            serde_json::json!([{"field": field, "issue": "repeated"}]),
            "{query}"
        );
        assert_eq!(
            body["error"]["message"],
            format!("The query parameter `{field}` is given more than once.")
        );
    }
}

async fn list_filters_by_tag(backend: Backend) {
    let app = app_on(backend);
    let (_, user) = app.new_user("tags").await;
    new_note(app, &user, "red one", &["red"]).await;
    new_note(app, &user, "blue", &["blue"]).await;
    new_note(app, &user, "red two", &["blue", "red"]).await;
    let body: Value = list_page(app, &user, "?tag=red")
        .await
        .json()
        .await
        .unwrap();
    let titles: Vec<_> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["red two", "red one"]);
    let resp = list_page(app, &user, "?tag=Not%20Valid").await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"][0]["field"], "tag");

    // A cursor issued for one filter is refused for another.
    let body: Value = list_page(app, &user, "?tag=red&limit=1")
        .await
        .json()
        .await
        .unwrap();
    let cursor = body["next_cursor"].as_str().unwrap();
    let resp = list_page(app, &user, &format!("?tag=blue&cursor={cursor}")).await;
    assert_error(resp, 400, "BAD_REQUEST").await;
}

async fn patch(
    app: &TestApp,
    user: &Browser,
    path: &str,
    body: Value,
    if_match: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .as_browser(user, Method::PATCH, path)
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string());
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    req.send().await.unwrap()
}

async fn patch_changes_only_writable_fields(backend: Backend) {
    let app = app_on(backend);
    let (_, user) = app.new_user("patch").await;
    let note = new_note(app, &user, "Before", &["x"]).await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());

    let resp = patch(
        app,
        &user,
        &path,
        json!({"title": "After", "tags": null}),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(resp.headers(), "etag"), Some("\"v2\""));
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(updated["title"], "After");
    assert_eq!(updated["body"], "text", "absent fields are kept");
    assert_eq!(updated["tags"], json!([]), "null removes");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["created_at"], note["created_at"]);

    // The next read returns the new state, never the old one.
    let read: Value = app.get_json(&user, &path).await;
    assert_eq!(read, updated);

    for forbidden in [
        json!({"id": "other"}),
        json!({"owner_id": "someone"}),
        json!({"created_at": 0}),
        json!({"updated_at": 0}),
        json!({"version": 9}),
    ] {
        let resp = patch(app, &user, &path, forbidden, None).await;
        let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
        assert_eq!(body["error"]["details"][0]["issue"], "unknown_field");
    }
    let resp = patch(app, &user, &path, json!({"title": null}), None).await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"],
        json!([{"field": "title", "issue": "required"}])
    );
    let resp = app
        .as_browser(&user, Method::PATCH, &path)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE").await;
}

async fn stale_if_match_is_rejected_with_412(backend: Backend) {
    let app = app_on(backend);
    let (_, user) = app.new_user("editors").await;
    let note = new_note(app, &user, "Shared", &[]).await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());
    // Two editors both loaded version 1.
    let first = patch(app, &user, &path, json!({"body": "first"}), Some("\"v1\"")).await;
    assert_eq!(first.status(), 200);
    let second = patch(app, &user, &path, json!({"body": "second"}), Some("\"v1\"")).await;
    // The refusal names the version to fetch or retry against.
    assert_eq!(header(second.headers(), "etag"), Some("\"v2\""));
    assert_error(second, 412, "PRECONDITION_FAILED").await;
    let read: Value = app.get_json(&user, &path).await;
    assert_eq!(
        read["body"], "first",
        "the second editor did not overwrite silently"
    );

    // Concurrent editors with the same precondition: exactly one wins.
    let user = &user;
    let results = join_all((0..6).map(|i| {
        let path = path.clone();
        async move {
            patch(
                app,
                user,
                &path,
                json!({"body": format!("racer {i}")}),
                Some("\"v2\""),
            )
            .await
            .status()
            .as_u16()
        }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|s| **s == 200).count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|s| **s == 412).count(),
        5,
        "{results:?}"
    );
}

async fn delete_answers_204_then_404(backend: Backend) {
    let app = app_on(backend);
    let (_, user) = app.new_user("delete").await;
    let note = new_note(app, &user, "Doomed", &[]).await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());
    let resp = app
        .as_browser(&user, Method::DELETE, &path)
        .header("if-match", "\"v7\"")
        .send()
        .await
        .unwrap();
    assert_error(resp, 412, "PRECONDITION_FAILED").await;
    let resp = app
        .as_browser(&user, Method::DELETE, &path)
        .header("if-match", "\"v1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = app
        .as_browser(&user, Method::GET, &path)
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "NOT_FOUND").await;
    let resp = app
        .as_browser(&user, Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "NOT_FOUND").await;
}

async fn admins_read_any_note_users_cannot(backend: Backend) {
    let app = app_on(backend);
    let (_, owner) = app.new_user("owned").await;
    let note = new_note(app, &owner, "Audited", &[]).await;
    let path = format!("/v1/admin/notes/{}", note["id"].as_str().unwrap());
    let resp = app
        .as_browser(&owner, Method::GET, &path)
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "FORBIDDEN").await;
    let (_, admin) = app.new_admin().await;
    let resp = app
        .as_browser(&admin, Method::GET, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["title"], "Audited");
    assert!(body["owner_id"].is_string());
    let resp = app
        .as_browser(
            &admin,
            Method::GET,
            "/v1/admin/notes/0190b0a0-0000-7000-8000-000000000000",
        )
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "NOT_FOUND").await;
}

async fn post_with_key(
    app: &TestApp,
    user: &Browser,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.as_browser(user, Method::POST, "/v1/notes")
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn count_notes(app: &TestApp, user: &Browser) -> usize {
    let body: Value = list_page(app, user, "?limit=100")
        .await
        .json()
        .await
        .unwrap();
    body["items"].as_array().unwrap().len()
}

async fn idempotency_key_replays_the_first_response(backend: Backend) {
    let app = app_on(backend);
    let (_, user) = app.new_user("idem").await;
    let body = json!({"title": "Once", "tags": ["a"]});
    let first = post_with_key(app, &user, "key-123", &body).await;
    assert_eq!(first.status(), 201);
    assert!(header(first.headers(), "idempotent-replayed").is_none());
    let (loc, etag) = (
        header(first.headers(), "location").unwrap().to_owned(),
        header(first.headers(), "etag").unwrap().to_owned(),
    );
    let first_body = first.text().await.unwrap();

    // The same request again, even formatted differently, replays the first answer.
    let again = app
        .as_browser(&user, Method::POST, "/v1/notes")
        .header("idempotency-key", "key-123")
        .header("content-type", "application/json")
        .body("{ \"tags\": [\"a\"], \"title\": \"Once\" }")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(header(again.headers(), "location"), Some(loc.as_str()));
    assert_eq!(header(again.headers(), "etag"), Some(etag.as_str()));
    assert_eq!(header(again.headers(), "idempotent-replayed"), Some("true"));
    assert_eq!(again.text().await.unwrap(), first_body);
    assert_eq!(count_notes(app, &user).await, 1);

    let other = post_with_key(app, &user, "key-123", &json!({"title": "Different"})).await;
    assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(count_notes(app, &user).await, 1);

    // Keys are per user: another user's identical key is independent.
    let (_, stranger) = app.new_user("idem2").await;
    let theirs = post_with_key(app, &stranger, "key-123", &body).await;
    assert_eq!(theirs.status(), 201);
    assert!(header(theirs.headers(), "idempotent-replayed").is_none());

    let bad = post_with_key(app, &user, "has space", &body).await;
    assert_error(bad, 422, "VALIDATION_ERROR").await;
}

async fn concurrent_requests_with_one_key_create_one_note(backend: Backend) {
    let app = app_on(backend);
    let (_, user) = app.new_user("race").await;
    let body = json!({"title": "Raced"});
    let responses = join_all((0..8).map(|_| post_with_key(app, &user, "race-key", &body))).await;
    let mut ids = Vec::new();
    for resp in responses {
        assert_eq!(resp.status(), 201);
        let note: Value = resp.json().await.unwrap();
        ids.push(note["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every response names the same note");
    assert_eq!(count_notes(app, &user).await, 1);
}

#[tokio::test]
async fn expired_idempotency_keys_are_cleared_whatever_keys_follow() {
    // Read from sqld itself: what the Worker leaves in the database, not what it answers.
    let app = app_on(Backend::Turso);
    let (_, user) = app.new_user("idem-expiry").await;
    let owner = app.get_json(&user, "/v1/auth/me").await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = || async {
        crate::support::turso_server()
            .scalar(
                "SELECT count(*) FROM idempotency_keys WHERE owner_id = ?",
                &[&owner],
            )
            .await
    };
    for key in ["day-one-a", "day-one-b"] {
        let resp = post_with_key(app, &user, key, &json!({"title": key})).await;
        assert_eq!(resp.status(), 201);
    }
    assert_eq!(stored().await["value"], "2");

    // A day and an hour later, a new key: the two expired claims go, the new one stays.
    let day_later = app
        .as_browser(&user, Method::POST, "/v1/notes")
        .header("idempotency-key", "day-two")
        .header("x-test-clock-advance-ms", (25 * 3_600_000).to_string())
        .json(&json!({"title": "day two"}))
        .send()
        .await
        .unwrap();
    assert_eq!(day_later.status(), 201);
    assert_eq!(stored().await["value"], "1");
    assert_eq!(
        count_notes(app, &user).await,
        3,
        "the notes themselves stay"
    );
}

#[tokio::test]
async fn a_patch_in_another_format_or_charset_is_415_and_the_note_is_kept() {
    let app = app_on(Backend::D1);
    let (_, user) = app.new_user("patch-format").await;
    let note = new_note(app, &user, "Kept", &["x"]).await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());
    let send = |content_type: &'static str, body: String| {
        app.as_browser(&user, Method::PATCH, &path)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    // A JSON Patch is a list of operations, not a merge patch: refused, with the formats
    // that are read (RFC 5789 §2.2), even when its body would also parse as a merge patch.
    for (content_type, body) in [
        (
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/title", "value": "x"}]).to_string(),
        ),
        (
            "application/json-patch+json",
            json!({"title": "x"}).to_string(),
        ),
        (
            "application/vnd.example+json",
            json!({"title": "x"}).to_string(),
        ),
    ] {
        let resp = send(content_type, body).await.unwrap();
        let headers = resp.headers().clone();
        assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE").await;
        assert_eq!(
            header(&headers, "accept-patch"),
            Some("application/merge-patch+json, application/json"),
            "{content_type}"
        );
    }
    // JSON is UTF-8: a body declared in another charset is not read as if it were.
    let resp = send(
        "application/merge-patch+json; charset=iso-8859-1",
        json!({"title": "x"}).to_string(),
    )
    .await
    .unwrap();
    assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let resp = app
        .as_browser(&user, Method::POST, "/v1/notes")
        .header("content-type", "application/json; charset=windows-1252")
        .body(json!({"title": "x"}).to_string())
        .send()
        .await
        .unwrap();
    assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let read: Value = app.get_json(&user, &path).await;
    assert_eq!(read, note, "nothing was applied");

    // Both patch formats that are read still apply, and OPTIONS names them.
    for content_type in [
        "application/json",
        "application/merge-patch+json; charset=utf-8",
    ] {
        let resp = send(content_type, json!({"title": content_type}).to_string())
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{content_type}");
    }
    let resp = app
        .client()
        .request(Method::OPTIONS, app.at(&path))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        header(resp.headers(), "accept-patch"),
        Some("application/merge-patch+json, application/json")
    );
    let resp = app
        .client()
        .request(Method::OPTIONS, app.at("/v1/notes"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(resp.headers(), "accept-patch"),
        None,
        "no PATCH there"
    );
}

#[tokio::test]
async fn every_precondition_is_evaluated_and_a_patch_that_changes_nothing_writes_nothing() {
    let app = app_on(Backend::D1);
    let (_, user) = app.new_user("preconditions").await;
    let note = new_note(app, &user, "Guarded", &["x"]).await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());

    // `{}` and a patch of the values as they are change nothing: same version, same ETag.
    for unchanged in [json!({}), json!({"title": "Guarded", "tags": ["x"]})] {
        let resp = patch(app, &user, &path, unchanged.clone(), Some("\"v1\"")).await;
        assert_eq!(resp.status(), 200, "{unchanged}");
        assert_eq!(
            header(resp.headers(), "etag"),
            Some("\"v1\""),
            "{unchanged}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body, note, "{unchanged}");
    }

    // `If-None-Match: *` means "only if it does not exist": the note does, so neither a
    // change nor a deletion is made; a list naming the current ETag is the same.
    for if_none_match in ["*", "\"v0\", \"v1\"", "W/\"v1\""] {
        let resp = app
            .as_browser(&user, Method::PATCH, &path)
            .header("content-type", "application/merge-patch+json")
            .header("if-none-match", if_none_match)
            .body(json!({"title": "Overwritten"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(header(resp.headers(), "etag"), Some("\"v1\""));
        assert_error(resp, 412, "PRECONDITION_FAILED").await;
        let resp = app
            .as_browser(&user, Method::DELETE, &path)
            .header("if-none-match", if_none_match)
            .send()
            .await
            .unwrap();
        assert_eq!(header(resp.headers(), "etag"), Some("\"v1\""));
        assert_error(resp, 412, "PRECONDITION_FAILED").await;
    }
    let read: Value = app.get_json(&user, &path).await;
    assert_eq!(read, note, "nothing was changed or deleted");
    // One that names another version lets the change through.
    let resp = app
        .as_browser(&user, Method::PATCH, &path)
        .header("content-type", "application/merge-patch+json")
        .header("if-none-match", "\"v7\"")
        .body(json!({"title": "Changed"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(resp.headers(), "etag"), Some("\"v2\""));

    // `If-Match` on a read: 412 unless it names the current version (strongly).
    let read_if = |tag: &'static str| {
        app.as_browser(&user, Method::GET, &path)
            .header("if-match", tag)
            .send()
    };
    for stale in ["\"v1\"", "W/\"v2\""] {
        let resp = read_if(stale).await.unwrap();
        assert_eq!(header(resp.headers(), "etag"), Some("\"v2\""), "{stale}");
        assert_error(resp, 412, "PRECONDITION_FAILED").await;
    }
    for current in ["\"v2\"", "*", "\"v1\", \"v2\""] {
        let resp = read_if(current).await.unwrap();
        assert_eq!(resp.status(), 200, "{current}");
        assert_eq!(header(resp.headers(), "etag"), Some("\"v2\""));
    }
    // `If-Match` comes before `If-None-Match`: a stale one is 412 even where the other
    // would have been 304.
    let resp = app
        .as_browser(&user, Method::GET, &path)
        .header("if-match", "\"v1\"")
        .header("if-none-match", "\"v2\"")
        .send()
        .await
        .unwrap();
    assert_error(resp, 412, "PRECONDITION_FAILED").await;
    let resp = app
        .as_browser(&user, Method::GET, &path)
        .header("if-match", "\"v2\"")
        .header("if-none-match", "\"v2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);

    // Every read evaluates `If-Match`: a list page's tag is weak, so only `*` holds for it,
    // and an answer without a tag (the caller) holds for `*` alone.
    for (read, tag, expected) in [
        ("/v1/notes", "*", 200),
        ("/v1/notes", "\"nope\"", 412),
        ("/v1/auth/me", "*", 200),
        ("/v1/auth/me", "\"nope\"", 412),
    ] {
        let resp = app
            .as_browser(&user, Method::GET, read)
            .header("if-match", tag)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), expected, "{read} If-Match: {tag}");
        if read == "/v1/auth/me" {
            // The caller's answer has no ETag, so neither has its 412.
            assert_eq!(header(resp.headers(), "etag"), None);
        }
        if expected == 412 {
            assert_error(resp, 412, "PRECONDITION_FAILED").await;
        }
    }
    let list = app
        .as_browser(&user, Method::GET, "/v1/notes")
        .send()
        .await
        .unwrap();
    let weak = header(list.headers(), "etag").unwrap().to_owned();
    assert!(weak.starts_with("W/"), "{weak}");
    let resp = app
        .as_browser(&user, Method::GET, "/v1/notes")
        .header("if-match", &weak)
        .send()
        .await
        .unwrap();
    assert_eq!(header(resp.headers(), "etag"), Some(weak.as_str()));
    assert_error(resp, 412, "PRECONDITION_FAILED").await;
    // A failed read precondition is no reason to refuse an error: a missing note stays 404.
    let resp = app
        .as_browser(
            &user,
            Method::GET,
            "/v1/notes/0190b0a0-0000-7000-8000-000000000000",
        )
        .header("if-match", "\"nope\"")
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "NOT_FOUND").await;

    // And `If-None-Match` on a change that names another version, with the deletion last.
    let resp = app
        .as_browser(&user, Method::DELETE, &path)
        .header("if-none-match", "\"v1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn a_change_whose_target_has_no_etag_honours_only_the_preconditions_that_need_none() {
    let app = app_on(Backend::D1);
    let (_, user) = app.new_user("untagged-change").await;
    let sessions = app.get_json(&user, "/v1/auth/sessions").await;
    let session_id = sessions["items"][0]["id"].as_str().unwrap().to_owned();
    let notes_before = app.get_json(&user, "/v1/notes").await["items"].clone();

    // A tag can never match what has no ETag, and `If-None-Match: *` ("only if nothing is
    // there") fails where something is: nothing is created, revoked or renamed.
    let create = |name: &'static str, value: &'static str| {
        app.as_browser(&user, Method::POST, "/v1/notes")
            .header(name, value)
            .json(&json!({"title": "Guarded create"}))
            .send()
    };
    for (name, value) in [
        ("if-match", "\"v1\""),
        ("if-match", "W/\"x\", \"y\""),
        ("if-none-match", "*"),
    ] {
        let resp = create(name, value).await.unwrap();
        assert_eq!(header(resp.headers(), "etag"), None, "{name}: {value}");
        assert_error(resp, 412, "PRECONDITION_FAILED").await;
    }
    assert_eq!(
        app.get_json(&user, "/v1/notes").await["items"],
        notes_before,
        "no note was created"
    );
    let revoke = |value: &'static str| {
        app.as_browser(
            &user,
            Method::DELETE,
            &format!("/v1/auth/sessions/{session_id}"),
        )
        .header("if-match", value)
        .send()
    };
    assert_error(
        revoke("\"nope\"").await.unwrap(),
        412,
        "PRECONDITION_FAILED",
    )
    .await;
    assert_eq!(
        app.as_browser(&user, Method::GET, "/v1/auth/me")
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "the session was not revoked"
    );
    // Where the target has no representation (a sign-in endpoint), even `*` fails.
    let resp = app
        .client()
        .post(app.at("/v1/auth/login"))
        .header("if-match", "*")
        .json(&json!({"email": "nobody@example.test", "password": "whatever it is"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 412, "PRECONDITION_FAILED").await;

    // What needs no tag goes ahead: `*` on what exists, and a tag `If-None-Match` cannot match.
    let resp = create("if-none-match", "\"v1\"").await.unwrap();
    assert_eq!(resp.status(), 201);
    let resp = create("if-match", "*").await.unwrap();
    assert_eq!(resp.status(), 201);
    let resp = revoke("*").await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        app.as_browser(&user, Method::GET, "/v1/auth/me")
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "the session was revoked"
    );
}
