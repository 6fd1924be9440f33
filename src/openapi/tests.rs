//! The document is current, complete both ways, and says what the route table says.

use super::generate::{document, operations};
use crate::context::{handler, Handler};
use crate::router::{get, Route};
use crate::routes::ROUTES;
use serde_json::Value;

fn generated() -> String {
    let mut text = serde_json::to_string_pretty(&document(ROUTES, &operations())).unwrap();
    text.push('\n');
    text
}

#[test]
fn the_committed_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    let fresh = generated();
    if std::env::var_os("OPENAPI_WRITE").is_some() {
        std::fs::write(path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap();
    assert!(
        committed == fresh,
        "openapi.json is out of date with the route table: run `make openapi`"
    );
    // What the Worker embeds: the same document without indentation (`build.rs`).
    let compact = serde_json::to_vec(&document(ROUTES, &operations())).unwrap();
    assert!(
        super::DOCUMENT == compact.as_slice(),
        "the Worker embeds the same document (rebuild after `make openapi`)"
    );
}

#[test]
fn every_route_is_documented_and_every_declaration_is_a_route() {
    let doc = document(ROUTES, &operations());
    let routes: Vec<_> = ROUTES.iter().filter(|r| !r.test_only).collect();
    let mut documented = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(
                routes
                    .iter()
                    .any(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method)),
                "{method} {path} is documented but not routed"
            );
            documented += 1;
        }
    }
    assert_eq!(documented, routes.len(), "every route is documented once");
    for op in operations() {
        assert!(
            routes
                .iter()
                .any(|r| r.method == op.method && r.path == op.path),
            "the declaration {} names no route ({} {})",
            op.id,
            op.method.as_str(),
            op.path
        );
    }
    let mut ids: Vec<_> = operations().iter().map(|o| o.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), operations().len(), "operation ids are unique");
}

#[test]
#[should_panic(expected = "GET /v1/undeclared has no declaration")]
fn a_route_without_a_declaration_fails_the_build() {
    static UNDECLARED: &[Route<Handler>] =
        &[get("/v1/undeclared", handler!(crate::testing::limited))];
    document(UNDECLARED, &operations());
}

fn op<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    &doc["paths"][path][method]
}

#[test]
fn access_limits_bodies_and_errors_follow_the_route_table() {
    let doc = document(ROUTES, &operations());
    let public = op(&doc, "post", "/v1/auth/signup");
    assert_eq!(public["security"], serde_json::json!([]));
    assert!(
        public["responses"].get("401").is_none(),
        "public routes never answer 401"
    );
    assert_eq!(
        public["requestBody"]["content"]["application/json"]["schema"]["additionalProperties"],
        false
    );
    for status in [
        "201", "400", "409", "413", "415", "422", "429", "500", "503",
    ] {
        assert!(
            public["responses"].get(status).is_some(),
            "signup documents {status}"
        );
    }
    let limited = &public["responses"]["429"]["headers"];
    for h in [
        "Retry-After",
        "RateLimit",
        "RateLimit-Policy",
        "X-Request-Id",
        "traceparent",
    ] {
        assert!(limited.get(h).is_some(), "429 carries {h}");
    }

    // The document may be kept by shared caches: its answers leave the client's quota out,
    // its errors (never stored) carry it.
    let document = &op(&doc, "get", "/v1/openapi.json")["responses"];
    for status in ["200", "304"] {
        assert!(
            document[status]["headers"].get("RateLimit").is_none(),
            "{status}"
        );
        assert!(
            document[status]["headers"]["X-Request-Id"].is_object(),
            "{status}"
        );
    }
    for status in ["412", "429", "500"] {
        assert!(
            document[status]["headers"]["RateLimit"].is_object(),
            "{status}"
        );
    }
    assert!(op(&doc, "get", "/v1/notes")["responses"]["200"]["headers"]["RateLimit"].is_object());

    let patch = op(&doc, "patch", "/v1/notes/{id}");
    assert_eq!(patch["security"][0]["sessionCookie"], serde_json::json!([]));
    assert_eq!(patch["security"][1]["bearerJwt"], serde_json::json!([]));
    assert!(patch["description"].as_str().unwrap().contains("CSRF"));
    assert!(patch["responses"]["403"]["description"]
        .as_str()
        .unwrap()
        .contains("CSRF_REJECTED"));
    for status in ["200", "401", "404", "409", "412", "422", "503"] {
        assert!(
            patch["responses"].get(status).is_some(),
            "patch documents {status}"
        );
    }
    // A 412 names the current version, on a write's precondition and on a read's.
    for (method, path) in [
        ("patch", "/v1/notes/{id}"),
        ("delete", "/v1/notes/{id}"),
        ("get", "/v1/notes/{id}"),
    ] {
        assert_eq!(
            op(&doc, method, path)["responses"]["412"]["headers"]["ETag"]["$ref"],
            "#/components/headers/CurrentETag",
            "{method} {path}"
        );
    }
    assert_eq!(patch["parameters"][0]["in"], "path");
    assert_eq!(
        patch["requestBody"]["description"],
        "At most 262144 bytes. Keys may not repeat."
    );

    let get_note = op(&doc, "get", "/v1/notes/{id}");
    assert!(get_note["responses"].get("304").is_some());
    assert!(get_note.get("requestBody").is_none());
    assert!(
        get_note["description"].is_null(),
        "safe methods need no CSRF note"
    );

    let live = op(&doc, "get", "/v1/health");
    assert!(
        live["responses"].get("503").is_none(),
        "liveness touches no storage"
    );
    let admin = op(&doc, "get", "/v1/admin/users");
    assert!(admin["description"].as_str().unwrap().contains("Sensitive"));

    let title = &doc["paths"]["/v1/notes"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["properties"]["title"];
    assert_eq!(title["maxLength"], 200);
    let tags = &doc["paths"]["/v1/notes"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["properties"]["tags"];
    assert_eq!(
        (tags["maxItems"].as_u64(), &tags["uniqueItems"]),
        (Some(16), &Value::Bool(true))
    );
}

#[test]
fn deprecated_routes_say_so_with_their_sunset() {
    static DEPRECATED: &[Route<Handler>] =
        &[get("/v1/health", handler!(crate::health::live))
            .deprecated(1_767_225_600, 1_830_297_600)];
    let doc = document(DEPRECATED, &operations());
    let live = op(&doc, "get", "/v1/health");
    assert_eq!(live["deprecated"], true);
    assert_eq!(live["x-sunset"], "Sat, 01 Jan 2028 00:00:00 GMT");
    assert!(live["responses"]["200"]["headers"].get("Sunset").is_some());
    let current = document(ROUTES, &operations());
    assert!(op(&current, "get", "/v1/health")
        .get("deprecated")
        .is_none());
}
