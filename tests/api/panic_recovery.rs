//! After a handler panics, the runtime re-creates the Wasm instance and the next request is
//! answered normally. Uses a private instance so the panic cannot disturb other tests.

use crate::support::{spawn, Spawn};

#[tokio::test]
async fn next_request_after_a_panic_is_served() {
    let app = spawn(Spawn::default());
    let client = app.client();
    let resp = client.get(app.at("/v1/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    for round in 0..2 {
        let resp = client.get(app.at("/v1/_test/panic")).send().await.unwrap();
        assert_eq!(resp.status(), 500, "round {round}");
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains("deliberate panic"),
            "panic text leaked: {text}"
        );
        assert!(!text.contains(".rs"), "source path leaked: {text}");

        let resp = client.get(app.at("/v1/health")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "round {round}: served after the panic");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
}
