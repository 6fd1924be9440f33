//! Passkeys end to end against the Worker in workerd, with a software authenticator building
//! the same JSON a browser sends: sign-up, sign-in (discoverable and named), adding,
//! renaming and removing passkeys, and the verification rules as the API answers them.

use crate::support::{
    app, app_on, assert_error, header, session_cookie, set_cookies, spawn, unique_email, Backend,
    Browser, Spawn, TestApp, ORIGIN, PASSWORD,
};
use edge_api::auth::webauthn::soft::{Claims, SoftAuthenticator};
use edge_api::auth::webauthn::{b64, b64_encode};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(
    a_passkey_signs_up_and_signs_in_like_a_password,
    another_passkey_is_added_renamed_and_removed,
    responses_racing_for_one_challenge_sign_in_once,
);

/// The page's origin in the test environment (any `http://localhost:<port>` is accepted
/// outside production) and its RP ID.
const PAGE: &str = "http://localhost:8787";
const RP_ID: &str = "localhost";

/// Starts a ceremony; returns the options under `publicKey`.
async fn options(app: &TestApp, path: &str, browser: Option<&Browser>, body: Value) -> Value {
    let mut req = app.client().post(app.at(path)).json(&body);
    if let Some(b) = browser {
        req = req.header("cookie", &b.cookie).header("origin", ORIGIN);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    assert_eq!(header(resp.headers(), "cache-control"), Some("no-store"));
    let body: Value = resp.json().await.unwrap();
    body["publicKey"].clone()
}

fn challenge(options: &Value) -> Vec<u8> {
    b64(options["challenge"].as_str().expect("a challenge")).expect("base64url")
}

async fn post(
    app: &TestApp,
    path: &str,
    browser: Option<&Browser>,
    body: &Value,
) -> reqwest::Response {
    let mut req = app.client().post(app.at(path)).json(body);
    if let Some(b) = browser {
        req = req.header("cookie", &b.cookie).header("origin", ORIGIN);
    }
    req.send().await.unwrap()
}

/// Signs up with a new passkey on `auth`; returns the e-mail, the browser and the user.
async fn sign_up(app: &TestApp, auth: &SoftAuthenticator) -> (String, Browser, Value) {
    let email = unique_email("passkey");
    let opts = options(
        app,
        "/v1/auth/passkeys/register/options",
        None,
        json!({"email": email}),
    )
    .await;
    let claims = Claims::new("webauthn.create", &challenge(&opts), RP_ID, PAGE);
    let mut body = auth.registration(&claims);
    body["name"] = json!("Laptop");
    let resp = post(app, "/v1/auth/passkeys/register/verify", None, &body).await;
    assert_eq!(resp.status(), 201);
    let cookie = session_cookie(&resp).expect("a sign-up signs in");
    let location = header(resp.headers(), "location").unwrap().to_owned();
    let created: Value = resp.json().await.unwrap();
    assert_eq!(
        location,
        format!(
            "/v1/admin/users/{}",
            created["user"]["id"].as_str().unwrap()
        )
    );
    (email, Browser { cookie }, created)
}

async fn sign_in(
    app: &TestApp,
    auth: &SoftAuthenticator,
    count: u32,
    handle: &[u8],
) -> reqwest::Response {
    let opts = options(app, "/v1/auth/passkeys/login/options", None, json!({})).await;
    let mut claims = Claims::new("webauthn.get", &challenge(&opts), RP_ID, PAGE);
    claims.sign_count = count;
    post(
        app,
        "/v1/auth/passkeys/login/verify",
        None,
        &auth.authentication(&claims, Some(handle)),
    )
    .await
}

fn handle_of(user: &Value) -> Vec<u8> {
    uuid::Uuid::parse_str(user["id"].as_str().unwrap())
        .unwrap()
        .as_bytes()
        .to_vec()
}

async fn a_passkey_signs_up_and_signs_in_like_a_password(backend: Backend) {
    let app = app_on(backend);
    let auth = SoftAuthenticator::es256(11);
    let opts = options(
        app,
        "/v1/auth/passkeys/register/options",
        None,
        json!({"email": unique_email("opts")}),
    )
    .await;
    assert_eq!(opts["rp"]["id"], RP_ID);
    assert_eq!(opts["attestation"], "none");
    assert_eq!(opts["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        opts["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(
        opts["pubKeyCredParams"],
        json!([{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -8}])
    );
    assert_eq!(challenge(&opts).len(), 32);
    assert_eq!(b64(opts["user"]["id"].as_str().unwrap()).unwrap().len(), 16);

    let (email, browser, created) = sign_up(app, &auth).await;
    assert_eq!(created["user"]["email"], email.as_str());
    assert_eq!(created["user"]["role"], "user");
    let passkey = &created["passkey"];
    assert_eq!(passkey["name"], "Laptop");
    assert_eq!(passkey["algorithm"], -7);
    assert_eq!(passkey["credential_id"], b64_encode(&auth.credential_id));
    assert_eq!(passkey["transports"], json!(["internal", "hybrid"]));
    assert_eq!(passkey["aaguid"], "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa");
    assert_eq!(
        (
            passkey["backup_eligible"].as_bool(),
            passkey["backed_up"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert_eq!(passkey["last_used_at"], Value::Null);
    assert!(passkey.get("public_key").is_none() && passkey.get("sign_count").is_none());
    let me = app.get_json(&browser, "/v1/auth/me").await;
    assert_eq!(me["user"]["email"], email.as_str());

    // The same e-mail cannot sign up twice.
    let resp = post(
        app,
        "/v1/auth/passkeys/register/options",
        None,
        &json!({"email": email}),
    )
    .await;
    let body = assert_error(resp, 409, "CONFLICT").await;
    assert_eq!(body["error"]["details"][0]["field"], "email");

    // A discoverable sign-in: no e-mail, the response names the account.
    let resp = sign_in(app, &auth, 1, &handle_of(&created["user"])).await;
    assert_eq!(resp.status(), 200);
    let cookies = set_cookies(&resp);
    assert!(cookies.iter().any(|c| c.starts_with("__Host-session=")
        && c.contains("HttpOnly")
        && c.contains("Secure")));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["user"]["email"], email.as_str());
    assert!(body["session_id"].is_string());

    let listed = app.get_json(&browser, "/v1/auth/passkeys").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(
        listed["items"][0]["last_used_at"].is_u64(),
        "the sign-in is recorded"
    );

    // A named sign-in lists the account's credentials.
    let opts = options(
        app,
        "/v1/auth/passkeys/login/options",
        None,
        json!({"email": email}),
    )
    .await;
    assert_eq!(
        opts["allowCredentials"][0]["id"],
        b64_encode(&auth.credential_id)
    );
    assert_eq!(opts["rpId"], RP_ID);
    let mut claims = Claims::new("webauthn.get", &challenge(&opts), RP_ID, PAGE);
    claims.sign_count = 2;
    let resp = post(
        app,
        "/v1/auth/passkeys/login/verify",
        None,
        &auth.authentication(&claims, None),
    )
    .await;
    assert_eq!(resp.status(), 200, "a named ceremony needs no user handle");

    // A password cannot sign in to an account that has none.
    assert_error(app.login(&email, PASSWORD).await, 401, "UNAUTHENTICATED").await;
}

async fn responses_racing_for_one_challenge_sign_in_once(backend: Backend) {
    // A synced passkey's counter stays 0, so no counter refuses a replay: the challenge is
    // what makes a response single use. It is spent by one atomic statement in the
    // database, so of the same response sent eight times at once exactly one signs in.
    let app = app_on(backend);
    let auth = SoftAuthenticator::es256(23);
    let (_, _, created) = sign_up(app, &auth).await;
    let handle = handle_of(&created["user"]);
    let opts = options(app, "/v1/auth/passkeys/login/options", None, json!({})).await;
    let claims = Claims::new("webauthn.get", &challenge(&opts), RP_ID, PAGE);
    assert_eq!(claims.sign_count, 0, "a synced passkey's counter");
    let body = auth.authentication(&claims, Some(&handle));
    let answers =
        join_all((0..8).map(|_| post(app, "/v1/auth/passkeys/login/verify", None, &body))).await;
    let mut signed_in = 0;
    for resp in answers {
        if resp.status() == 200 {
            assert!(session_cookie(&resp).is_some());
            signed_in += 1;
        } else {
            let err = assert_error(resp, 401, "UNAUTHENTICATED").await;
            assert_eq!(
                err["error"]["message"],
                "The passkey could not be verified."
            );
        }
    }
    assert_eq!(signed_in, 1, "{backend:?}: one session per challenge");
    // The counter would have let a later one through: the next ceremony signs in again.
    assert_eq!(sign_in(app, &auth, 0, &handle).await.status(), 200);
}

async fn another_passkey_is_added_renamed_and_removed(backend: Backend) {
    let app = app_on(backend);
    let first = SoftAuthenticator::es256(21);
    let (email, browser, created) = sign_up(app, &first).await;

    let opts = options(
        app,
        "/v1/auth/passkeys/register/options",
        Some(&browser),
        json!({}),
    )
    .await;
    assert_eq!(
        opts["excludeCredentials"][0]["id"],
        b64_encode(&first.credential_id)
    );
    assert_eq!(opts["user"]["id"], b64_encode(&handle_of(&created["user"])));
    let second = SoftAuthenticator::ed25519(22);
    let claims = Claims::new("webauthn.create", &challenge(&opts), RP_ID, PAGE);
    let resp = post(
        app,
        "/v1/auth/passkeys/register/verify",
        Some(&browser),
        &second.registration(&claims),
    )
    .await;
    assert_eq!(resp.status(), 201);
    assert!(
        session_cookie(&resp).is_none(),
        "adding a passkey keeps the session"
    );
    let added: Value = resp.json().await.unwrap();
    assert_eq!(added["passkey"]["algorithm"], -8);
    assert_eq!(added["passkey"]["name"], "Passkey");
    assert!(added.get("user").is_none());
    // The owner is told of the new way in (the sign-up's own passkey sent nothing).
    let notices = app.notices_to(&email, 1).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0]["subject"]
        .as_str()
        .unwrap()
        .starts_with("A passkey was added to your account"));
    assert!(notices[0]["text"]
        .as_str()
        .unwrap()
        .starts_with("A passkey named \"Passkey\" was added."));

    // The Ed25519 passkey signs in too.
    let resp = sign_in(app, &second, 0, &handle_of(&created["user"])).await;
    assert_eq!(resp.status(), 200);
    // A named sign-in lists both, oldest first, and no stand-in.
    let named = options(
        app,
        "/v1/auth/passkeys/login/options",
        None,
        json!({"email": email}),
    )
    .await;
    let listed: Vec<_> = named["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(
        listed,
        [
            b64_encode(&first.credential_id),
            b64_encode(&second.credential_id)
        ]
    );

    let id = added["passkey"]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/auth/passkeys/{id}");
    let resp = app
        .as_browser(&browser, Method::PATCH, &path)
        .json(&json!({"name": "  Phone "}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let renamed: Value = resp.json().await.unwrap();
    assert_eq!(renamed["name"], "Phone");
    for (bad, issue) in [
        (json!(""), "required"),
        (json!("x".repeat(65)), "too_long"),
        (json!(7), "expected_string"),
        (json!("Lap\u{202e}pot"), "invalid_characters"),
    ] {
        let resp = app
            .as_browser(&browser, Method::PATCH, &path)
            .json(&json!({"name": bad}))
            .send()
            .await
            .unwrap();
        let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
        assert_eq!(body["error"]["details"][0]["issue"], issue);
    }

    // Someone else's passkey is not found; neither is a malformed id.
    let (_, other) = app.new_user("other").await;
    for (who, target) in [
        (&other, path.clone()),
        (&browser, "/v1/auth/passkeys/not-a-uuid".to_owned()),
    ] {
        let resp = app
            .as_browser(who, Method::DELETE, &target)
            .send()
            .await
            .unwrap();
        assert_error(resp, 404, "NOT_FOUND").await;
    }

    let resp = app
        .as_browser(&browser, Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    // The last one stays: the account has no password.
    let first_id = created["passkey"]["id"].as_str().unwrap();
    let resp = app
        .as_browser(
            &browser,
            Method::DELETE,
            &format!("/v1/auth/passkeys/{first_id}"),
        )
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, 409, "CONFLICT").await;
    assert_eq!(body["error"]["details"][0]["issue"], "last_credential");
    let listed = app.get_json(&browser, "/v1/auth/passkeys").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    // The removal was told, with the name it had; the refused one sent nothing.
    let notices = app.notices_to(&email, 2).await;
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(notices[1]["subject"]
        .as_str()
        .unwrap()
        .starts_with("A passkey was removed from your account"));
    assert!(notices[1]["text"]
        .as_str()
        .unwrap()
        .starts_with("The passkey named \"Phone\" was removed."));
    // The removed passkey no longer signs in.
    let resp = sign_in(app, &second, 1, &handle_of(&created["user"])).await;
    assert_error(resp, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn a_passkey_account_sets_a_password_on_a_fresh_sign_in() {
    let app = app();
    let auth = SoftAuthenticator::es256(81);
    let (email, browser, created) = sign_up(app, &auth).await;
    let me = |browser: &Browser| app.as_browser(browser, Method::GET, "/v1/auth/me").send();
    let set = |browser: &Browser, body: Value| {
        app.as_browser(browser, Method::POST, "/v1/auth/password")
            .json(&body)
            .send()
    };

    // A current password that is sent is checked; the account has none to match.
    let resp = set(
        &browser,
        json!({"current_password": PASSWORD, "new_password": "a passphrase of my own"}),
    )
    .await
    .unwrap();
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"],
        json!([{"field": "current_password", "issue": "incorrect"}])
    );
    assert_eq!(
        app.login(&email, "a passphrase of my own").await.status(),
        401
    );

    // The passkey sign-up a moment ago stands in for it.
    let resp = set(&browser, json!({"new_password": "a passphrase of my own"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let notices = app.notices_to(&email, 1).await;
    assert_eq!(
        notices.len(),
        1,
        "the refused attempt sent nothing: {notices:?}"
    );
    assert!(notices[0]["subject"]
        .as_str()
        .unwrap()
        .starts_with("A password was added to your account"));
    let continued = Browser {
        cookie: session_cookie(&resp).expect("the session continues on a new cookie"),
    };
    assert_ne!(continued.cookie, browser.cookie);
    assert_eq!(
        me(&browser).await.unwrap().status(),
        401,
        "the old session is revoked"
    );
    assert_eq!(me(&continued).await.unwrap().status(), 200);

    // The password signs in now, and the passkey still does.
    assert_eq!(
        app.login(&email, "a passphrase of my own").await.status(),
        200
    );
    let resp = sign_in(app, &auth, 1, &handle_of(&created["user"])).await;
    assert_eq!(resp.status(), 200);
    // The continued session began with the password: changing it again needs it.
    let resp = set(
        &continued,
        json!({"new_password": "yet another passphrase"}),
    )
    .await
    .unwrap();
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"],
        json!([{"field": "current_password", "issue": "required"}])
    );
}

#[tokio::test]
async fn a_password_account_may_remove_its_only_passkey_while_passwords_are_on() {
    let app = app();
    let (_, browser) = app.new_user("pw-passkey").await;
    let auth = SoftAuthenticator::es256(31);
    let opts = options(
        app,
        "/v1/auth/passkeys/register/options",
        Some(&browser),
        json!({}),
    )
    .await;
    let claims = Claims::new("webauthn.create", &challenge(&opts), RP_ID, PAGE);
    let resp = post(
        app,
        "/v1/auth/passkeys/register/verify",
        Some(&browser),
        &auth.registration(&claims),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["passkey"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .as_browser(&browser, Method::DELETE, &format!("/v1/auth/passkeys/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn each_verification_rule_is_enforced_by_the_api() {
    let app = app();
    let auth = SoftAuthenticator::es256(41);
    let email = unique_email("rules");
    let register = |claims_edit: fn(&mut Claims)| {
        let email = email.clone();
        let auth = &auth;
        async move {
            let opts = options(
                app,
                "/v1/auth/passkeys/register/options",
                None,
                json!({"email": email}),
            )
            .await;
            let mut claims = Claims::new("webauthn.create", &challenge(&opts), RP_ID, PAGE);
            claims_edit(&mut claims);
            post(
                app,
                "/v1/auth/passkeys/register/verify",
                None,
                &auth.registration(&claims),
            )
            .await
        }
    };
    for (edit, reason) in [
        (
            (|c: &mut Claims| c.origin = "https://evil.example".into()) as fn(&mut Claims),
            "origin",
        ),
        (|c: &mut Claims| c.rp_id = "evil.example".into(), "rp_id"),
        (|c: &mut Claims| c.kind = "webauthn.get".into(), "type"),
        (|c: &mut Claims| c.flags = 0x04, "user_presence"),
        (|c: &mut Claims| c.flags = 0x01, "user_verification"),
        (|c: &mut Claims| c.cross_origin = true, "cross_origin"),
        (|c: &mut Claims| c.challenge = vec![7; 32], "challenge"),
    ] {
        let resp = register(edit).await;
        let body = assert_error(resp, 400, "BAD_REQUEST").await;
        assert_eq!(body["error"]["details"][0]["field"], "credential");
        assert_eq!(body["error"]["details"][0]["issue"], reason);
    }

    // A challenge is spent by its first response, even a failed one.
    let opts = options(
        app,
        "/v1/auth/passkeys/register/options",
        None,
        json!({"email": email}),
    )
    .await;
    let claims = Claims::new("webauthn.create", &challenge(&opts), RP_ID, PAGE);
    let body = auth.registration(&claims);
    assert_eq!(
        post(app, "/v1/auth/passkeys/register/verify", None, &body)
            .await
            .status(),
        201
    );
    let resp = post(app, "/v1/auth/passkeys/register/verify", None, &body).await;
    let err = assert_error(resp, 400, "BAD_REQUEST").await;
    assert_eq!(err["error"]["details"][0]["issue"], "challenge");

    // Sign-in: a replayed assertion, a login challenge used to register, a foreign user
    // handle, a counter that goes back, an unknown credential: one answer for all.
    let created_user = {
        let opts = options(
            app,
            "/v1/auth/passkeys/login/options",
            None,
            json!({"email": email}),
        )
        .await;
        assert_eq!(opts["allowCredentials"].as_array().unwrap().len(), 1);
        let mut claims = Claims::new("webauthn.get", &challenge(&opts), RP_ID, PAGE);
        claims.sign_count = 5;
        let resp = post(
            app,
            "/v1/auth/passkeys/login/verify",
            None,
            &auth.authentication(&claims, None),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let signed: Value = resp.json().await.unwrap();
        // Replay of exactly that response.
        let again = post(
            app,
            "/v1/auth/passkeys/login/verify",
            None,
            &auth.authentication(&claims, None),
        )
        .await;
        assert_error(again, 401, "UNAUTHENTICATED").await;
        signed["user"].clone()
    };
    let handle = handle_of(&created_user);
    let log_before = app.log_text().len();
    let resp = sign_in(app, &auth, 5, &handle).await;
    let body = assert_error(resp, 401, "UNAUTHENTICATED").await;
    assert_eq!(
        body["error"]["message"],
        "The passkey could not be verified."
    );
    assert!(body["error"]["details"].as_array().unwrap().is_empty());
    let warned = app.log_lines_with("possible_cloned_authenticator").await;
    assert!(
        !warned.is_empty(),
        "a counter that does not increase is logged"
    );
    assert!(app.log_text()[log_before..].contains("webauthn authentication: counter"));
    assert_error(
        sign_in(app, &auth, 6, b"not-the-owner-handle").await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    assert_error(
        sign_in(app, &SoftAuthenticator::es256(42), 1, &handle).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    assert_eq!(
        sign_in(app, &auth, 6, &handle).await.status(),
        200,
        "the rightful next sign-in works"
    );

    // A registration challenge cannot finish a sign-in.
    let opts = options(
        app,
        "/v1/auth/passkeys/register/options",
        None,
        json!({"email": unique_email("x")}),
    )
    .await;
    let mut claims = Claims::new("webauthn.get", &challenge(&opts), RP_ID, PAGE);
    claims.sign_count = 7;
    let resp = post(
        app,
        "/v1/auth/passkeys/login/verify",
        None,
        &auth.authentication(&claims, Some(&handle)),
    )
    .await;
    assert_error(resp, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn addresses_without_a_passkey_get_a_stable_decoy_shaped_like_a_passkey() {
    let app = app();
    let email = unique_email("nobody");
    let a = options(
        app,
        "/v1/auth/passkeys/login/options",
        None,
        json!({"email": email}),
    )
    .await;
    let b = options(
        app,
        "/v1/auth/passkeys/login/options",
        None,
        json!({"email": email}),
    )
    .await;
    assert_eq!(a["allowCredentials"].as_array().unwrap().len(), 1);
    assert_eq!(a["allowCredentials"], b["allowCredentials"]);
    assert_ne!(a["challenge"], b["challenge"]);
    let other = options(
        app,
        "/v1/auth/passkeys/login/options",
        None,
        json!({"email": unique_email("nobody")}),
    )
    .await;
    assert_ne!(a["allowCredentials"], other["allowCredentials"]);
    let discoverable = options(app, "/v1/auth/passkeys/login/options", None, json!({})).await;
    assert_eq!(discoverable["allowCredentials"], json!([]));

    // An account that signs in by password answers as an unknown address does: one stable
    // stand-in, not an empty list.
    let (password_only, _) = app.new_user("password-only").await;
    let named = |email: &str| {
        let email = email.to_owned();
        async move {
            options(
                app,
                "/v1/auth/passkeys/login/options",
                None,
                json!({ "email": email }),
            )
            .await["allowCredentials"]
                .clone()
        }
    };
    let stand_in = named(&password_only).await;
    assert_eq!(stand_in.as_array().unwrap().len(), 1);
    assert_eq!(stand_in, named(&password_only).await);
    assert_ne!(stand_in, a["allowCredentials"]);
    // A stand-in has the shape of a real entry: the same members, an id of the same alphabet.
    let (passkey_email, _, _) = sign_up(app, &SoftAuthenticator::es256(52)).await;
    let real = named(&passkey_email).await;
    assert_eq!(real.as_array().unwrap().len(), 1);
    for entry in [&real[0], &stand_in[0], &a["allowCredentials"][0]] {
        let mut members: Vec<_> = entry.as_object().unwrap().keys().cloned().collect();
        members.sort();
        assert_eq!(members, ["id", "transports", "type"], "{entry}");
        assert_eq!(entry["type"], "public-key");
        assert!(b64(entry["id"].as_str().unwrap()).is_ok(), "{entry}");
        assert!(
            !entry["transports"].as_array().unwrap().is_empty(),
            "{entry}"
        );
    }
}

#[tokio::test]
async fn ceremonies_refuse_what_they_cannot_use() {
    let app = app();
    // Signed out without an e-mail, or signed in with one.
    let resp = post(app, "/v1/auth/passkeys/register/options", None, &json!({})).await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"],
        json!([{"field": "email", "issue": "required"}])
    );
    let (_, browser) = app.new_user("signed-in").await;
    let resp = post(
        app,
        "/v1/auth/passkeys/register/options",
        Some(&browser),
        &json!({"email": unique_email("y")}),
    )
    .await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"][0]["issue"],
        "not_allowed_when_signed_in"
    );

    // Adding a passkey: the ceremony belongs to the account that started it.
    let opts = options(
        app,
        "/v1/auth/passkeys/register/options",
        Some(&browser),
        json!({}),
    )
    .await;
    let claims = Claims::new("webauthn.create", &challenge(&opts), RP_ID, PAGE);
    let body = SoftAuthenticator::es256(51).registration(&claims);
    let (_, intruder) = app.new_user("intruder").await;
    let resp = post(
        app,
        "/v1/auth/passkeys/register/verify",
        Some(&intruder),
        &body,
    )
    .await;
    assert_error(resp, 400, "BAD_REQUEST").await;

    // A cookie-authenticated ceremony from a foreign origin is a CSRF attempt.
    let resp = app
        .client()
        .post(app.at("/v1/auth/passkeys/register/options"))
        .header("cookie", &browser.cookie)
        .header("origin", "https://evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "CSRF_REJECTED").await;

    // A session cookie that no longer works is ignored on an open route.
    let stale = Browser {
        cookie: "__Host-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    };
    let opts = options(
        app,
        "/v1/auth/passkeys/register/options",
        Some(&stale),
        json!({"email": unique_email("z")}),
    )
    .await;
    assert!(opts["challenge"].is_string());
}

#[tokio::test]
async fn malformed_credentials_get_structured_errors_never_a_crash() {
    let app = app();
    let auth = SoftAuthenticator::es256(61);
    let claims = Claims::new("webauthn.get", &[1; 32], RP_ID, PAGE);
    let good = auth.authentication(&claims, None);
    let mut missing = good.clone();
    missing["response"]
        .as_object_mut()
        .unwrap()
        .remove("signature");
    let mut not_b64 = good.clone();
    not_b64["response"]["authenticatorData"] = json!("***");
    for (body, field) in [
        (missing, "response.signature"),
        (not_b64, "response.authenticatorData"),
        (json!({"id": 1}), "id"),
    ] {
        let resp = post(app, "/v1/auth/passkeys/login/verify", None, &body).await;
        let err = assert_error(resp, 422, "VALIDATION_ERROR").await;
        assert!(
            err["error"]["details"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["field"] == field),
            "{err}"
        );
    }
    // A body that is not an object gets the answer every other route gives it.
    for path in [
        "/v1/auth/passkeys/login/verify",
        "/v1/auth/passkeys/register/verify",
    ] {
        for body in [json!([]), json!(null), json!("x")] {
            let resp = post(app, path, None, &body).await;
            let err = assert_error(resp, 422, "VALIDATION_ERROR").await;
            assert_eq!(
                err["error"]["details"],
                json!([{"field": "$", "issue": "expected_object"}]),
                "{path} {body}"
            );
            assert_eq!(
                err["error"]["message"],
                "The request body must be a JSON object."
            );
        }
    }
    // Well-formed JSON around bytes that are not WebAuthn structures.
    let reg_claims = Claims::new("webauthn.create", &[2; 32], RP_ID, PAGE);
    let mut garbage = auth.registration(&reg_claims);
    garbage["response"]["attestationObject"] = json!(b64_encode(&[0xbf, 0xff, 0x00, 0x9f]));
    garbage["response"]["clientDataJSON"] = json!(b64_encode(b"{not json"));
    let resp = post(app, "/v1/auth/passkeys/register/verify", None, &garbage).await;
    let err = assert_error(resp, 400, "BAD_REQUEST").await;
    // A stable code for the client; which structure failed goes to the log line.
    assert_eq!(
        err["error"]["details"],
        json!([{"field": "credential", "issue": "malformed"}])
    );
    let line = app
        .request_log(err["error"]["request_id"].as_str().unwrap())
        .await;
    assert!(
        line["cause"].as_str().unwrap().ends_with("clientDataJSON"),
        "{line}"
    );
    let mut bad_sig = good.clone();
    bad_sig["response"]["signature"] = json!(b64_encode(&[0x30, 0x02, 0x05, 0x00]));
    let resp = post(app, "/v1/auth/passkeys/login/verify", None, &bad_sig).await;
    assert_error(resp, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn with_password_login_off_passkeys_are_the_way_in() {
    let app = spawn(Spawn::with_vars(&[("PASSWORD_LOGIN", "false")]));
    let resp = app.signup(&unique_email("off"), PASSWORD).await;
    let body = assert_error(resp, 404, "NOT_FOUND").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("passkey"));
    assert_error(
        app.login(&unique_email("off"), PASSWORD).await,
        404,
        "NOT_FOUND",
    )
    .await;
    let (_, _, created) = sign_up(&app, &SoftAuthenticator::es256(71)).await;
    assert_eq!(created["user"]["role"], "user");
}

#[tokio::test]
async fn a_passkey_account_deleted_just_after_sign_up_signs_in_no_more() {
    let app = app();
    let auth = SoftAuthenticator::es256(91);
    let (_, browser, created) = sign_up(app, &auth).await;
    let resp = app
        .as_browser(&browser, Method::DELETE, "/v1/auth/me")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = sign_in(app, &auth, 1, &handle_of(&created["user"])).await;
    assert_error(resp, 401, "UNAUTHENTICATED").await;
}

/// Naming an address to sign in with moves the database as far whether or not an account has
/// it (D1's bookmark, which answers that read the database carry, counts every query).
#[tokio::test]
async fn named_sign_in_options_move_the_database_alike_for_known_and_unknown_addresses() {
    // A private instance: no other test queries its database.
    let app = spawn(Spawn::default());
    let auth = SoftAuthenticator::es256(93);
    let (email, _, _) = sign_up(&app, &auth).await;
    let mut moves = Vec::new();
    for address in [email.clone(), unique_email("ghost")]
        .into_iter()
        .cycle()
        .take(4)
    {
        let before = app.d1_position().await;
        options(
            &app,
            "/v1/auth/passkeys/login/options",
            None,
            json!({"email": address}),
        )
        .await;
        moves.push(app.d1_position().await - before);
    }
    assert!(moves.iter().all(|m| *m == moves[0]), "{moves:?}");
}

/// A passkey registered with someone else's address before the owner proves it stops
/// working when the owner signs in with a link: the first proof removes what came before.
#[tokio::test]
async fn a_squatters_passkey_stops_working_when_the_owner_proves_the_address() {
    let app = app();
    let squatter = SoftAuthenticator::es256(95);
    let (email, squatter_session, created) = sign_up(app, &squatter).await;

    assert_eq!(
        crate::email_link::request_link(app, &email).await.status(),
        202
    );
    let link = crate::email_link::mailed_link(app, &email).await.unwrap();
    let resp = crate::email_link::verify(app, link.split_once("#token=").unwrap().1).await;
    assert_eq!(resp.status(), 200);
    let owner = Browser {
        cookie: session_cookie(&resp).unwrap(),
    };

    let resp = sign_in(app, &squatter, 1, &handle_of(&created["user"])).await;
    assert_error(resp, 401, "UNAUTHENTICATED").await;
    let me = |b: &Browser| app.as_browser(b, Method::GET, "/v1/auth/me").send();
    assert_eq!(me(&squatter_session).await.unwrap().status(), 401);
    assert_eq!(me(&owner).await.unwrap().status(), 200);
    let listed = app.get_json(&owner, "/v1/auth/passkeys").await;
    assert_eq!(listed["items"], json!([]));
    let notices = app.notices_to(&email, 1).await;
    assert!(notices[0]["text"]
        .as_str()
        .unwrap()
        .contains("before (1 passkey) was removed"));
}
