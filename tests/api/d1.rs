//! D1 read replication through the Sessions API: every response that touched the database
//! carries the latest bookmark, and a client that sends it back reads at least that new.

use crate::support::{app, assert_error, header, PASSWORD};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn responses_carry_the_bookmark_and_accept_it_back() {
    let app = app();
    let (_, user) = app.new_user("bookmark").await;
    let resp = app
        .as_browser(&user, Method::POST, "/v1/notes")
        .json(&json!({"title": "written"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let bookmark = header(resp.headers(), "x-d1-bookmark")
        .expect("a write returns its bookmark")
        .to_owned();
    let id = resp.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Reading with the writer's bookmark sees the write, and returns a bookmark at least as new.
    let resp = app
        .as_browser(&user, Method::GET, &format!("/v1/notes/{id}"))
        .header("x-d1-bookmark", &bookmark)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let after = header(resp.headers(), "x-d1-bookmark").unwrap();
    assert!(after >= bookmark.as_str(), "{after} < {bookmark}");
}

#[tokio::test]
async fn routes_without_database_access_send_no_bookmark() {
    let app = app();
    let resp = app.client().get(app.at("/v1/health")).send().await.unwrap();
    assert!(header(resp.headers(), "x-d1-bookmark").is_none());
}

#[tokio::test]
async fn a_malformed_bookmark_is_400() {
    let app = app();
    let resp = app
        .client()
        .post(app.at("/v1/auth/login"))
        .header("x-d1-bookmark", "not a bookmark!")
        .json(&json!({"email": "x@example.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, 400, "BAD_REQUEST").await;
    assert_eq!(body["error"]["details"][0]["field"], "x-d1-bookmark");
}
