//! Deny by default across the whole route table, and the admin-only routes.

use crate::support::{app, assert_error};
use edge_api::router::Access;
use edge_api::routes::ROUTES;
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn every_non_public_route_answers_401_without_credentials() {
    let app = app();
    let mut checked = 0;
    for route in ROUTES
        .iter()
        .filter(|r| matches!(r.access, Access::Role(_)))
    {
        let path = route
            .path
            .replace("{id}", "0190b0a0-0000-7000-8000-000000000000");
        let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let resp = app
            .client()
            .request(method, app.at(&path))
            .header("content-type", "application/json")
            .header("origin", crate::support::ORIGIN)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "{path}"
        );
        let body = assert_error(resp, 401, "UNAUTHENTICATED").await;
        assert!(
            body["error"]["details"].as_array().unwrap().is_empty(),
            "{path}"
        );
        checked += 1;
    }
    // Every route is either public (the list the next test pins) or walked here.
    let public = ROUTES
        .iter()
        .filter(|r| !matches!(r.access, Access::Role(_)))
        .count();
    assert_eq!(
        checked,
        ROUTES.len() - public,
        "the walk covered every protected route"
    );
    assert!(checked >= 14, "the walk covered {checked} routes");
}

#[tokio::test]
async fn public_routes_are_only_the_intended_ones() {
    let mut public: Vec<String> = ROUTES
        .iter()
        .filter(|r| r.access == Access::Public && !r.test_only)
        .map(|r| format!("{} {}", r.method.as_str(), r.path))
        .collect();
    public.sort();
    assert_eq!(
        public,
        [
            "GET /v1/auth/methods",
            "GET /v1/health",
            "GET /v1/health/ready",
            "GET /v1/openapi.json",
            "POST /v1/auth/email-link",
            "POST /v1/auth/email-link/verify",
            "POST /v1/auth/login",
            "POST /v1/auth/passkeys/login/options",
            "POST /v1/auth/passkeys/login/verify",
            "POST /v1/auth/signup",
        ]
    );
    // Open to anyone, acting for a signed-in caller: the passkey registration ceremony
    // (a sign-up when signed out, another passkey when signed in).
    let mut optional: Vec<String> = ROUTES
        .iter()
        .filter(|r| r.access == Access::Optional)
        .map(|r| format!("{} {}", r.method.as_str(), r.path))
        .collect();
    optional.sort();
    assert_eq!(
        optional,
        [
            "POST /v1/auth/passkeys/register/options",
            "POST /v1/auth/passkeys/register/verify",
        ]
    );
}

#[tokio::test]
async fn admin_routes_are_403_for_users_and_open_to_admins() {
    let app = app();
    let (_, user) = app.new_user("plain").await;
    let resp = app
        .as_browser(&user, Method::GET, "/v1/admin/users")
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "FORBIDDEN").await;

    let (_, admin) = app.new_admin().await;
    let resp = app
        .as_browser(&admin, Method::GET, "/v1/admin/users")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["items"].as_array().is_some_and(|i| !i.is_empty()));
    assert!(body.to_string().find("pbkdf2").is_none());
}

#[tokio::test]
async fn signup_location_names_the_account_for_administrators() {
    let app = app();
    let email = crate::support::unique_email("located");
    let resp = app.signup(&email, crate::support::PASSWORD).await;
    assert_eq!(resp.status(), 201);
    let location = crate::support::header(resp.headers(), "location")
        .unwrap()
        .to_owned();
    let created: Value = resp.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/admin/users/{}", created["id"].as_str().unwrap())
    );

    let (_, user) = app.new_user("not-admin").await;
    let resp = app
        .as_browser(&user, Method::GET, &location)
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "FORBIDDEN").await;

    let (_, admin) = app.new_admin().await;
    let resp = app
        .as_browser(&admin, Method::GET, &location)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        crate::support::header(resp.headers(), "content-type"),
        Some("application/json")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, created, "the same representation signup answered");

    for missing in [
        "/v1/admin/users/0190b0a0-0000-7000-8000-000000000000",
        "/v1/admin/users/not-a-uuid",
    ] {
        let resp = app
            .as_browser(&admin, Method::GET, missing)
            .send()
            .await
            .unwrap();
        assert_error(resp, 404, "NOT_FOUND").await;
    }
}

#[tokio::test]
async fn admin_user_list_pages_with_signed_cursors() {
    let app = app();
    let (_, admin) = app.new_admin().await;
    for _ in 0..3 {
        app.new_user("page").await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/admin/users?limit=2&cursor={c}"),
            None => "/v1/admin/users?limit=2".to_string(),
        };
        let body: Value = app.get_json(&admin, &path).await;
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        for item in items {
            seen.push((
                item["created_at"].as_u64().unwrap(),
                item["id"].as_str().unwrap().to_owned(),
            ));
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert!(seen.len() >= 4);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "stable order, no repeats");

    // A tampered cursor is refused; limits are bounded.
    let c = cursor.unwrap_or_else(|| "x.y".into());
    let tampered = format!("{}A{}", &c[..1], &c[1..]);
    let resp = app
        .as_browser(
            &admin,
            Method::GET,
            &format!("/v1/admin/users?cursor={tampered}"),
        )
        .send()
        .await
        .unwrap();
    assert_error(resp, 400, "BAD_REQUEST").await;
    let resp = app
        .as_browser(&admin, Method::GET, "/v1/admin/users?limit=101")
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"][0]["field"], "limit");
    let resp = app
        .as_browser(&admin, Method::GET, "/v1/admin/users?limit=5&limit=50")
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"][0]["issue"], "repeated");
}

#[tokio::test]
async fn a_role_change_ends_existing_sessions() {
    let app = app();
    let (email, browser) = app.new_user("promoted").await;
    let resp = app
        .client()
        .post(app.at("/v1/_test/set-role"))
        .json(&serde_json::json!({"email": email, "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .as_browser(&browser, Method::GET, "/v1/auth/me")
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "UNAUTHENTICATED").await;
}
