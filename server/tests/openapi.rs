//! The OpenAPI document: the server serves it without auth, it is the committed
//! docs/openapi.json (`DBX_UPDATE_OPENAPI=1 cargo test -p dbx-server --test openapi`
//! rewrites that file), `dbx-server openapi` prints the same, and every operation it
//! lists is a route of the server that answers with a status the document gives it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

#[tokio::test]
async fn the_served_document_is_the_committed_one_and_needs_no_auth() {
    let server = TestServer::start().await;
    let r = server
        .req(Method::GET, "/api/v1/openapi.json")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
    let content_type = r.headers()["content-type"].to_str().unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let served = r.text().await.expect("body");
    if std::env::var("DBX_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(committed_path(), &served).expect("write docs/openapi.json");
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        served == committed,
        "docs/openapi.json is not the document the server serves; rewrite it with \
         DBX_UPDATE_OPENAPI=1 cargo test -p dbx-server --test openapi"
    );
}

#[test]
fn the_subcommand_prints_the_served_document() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbx-server"))
        .arg("openapi")
        .output()
        .expect("run dbx-server openapi");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout) == dbx_server::http::openapi::document());
}

#[test]
fn it_is_openapi_3_1_with_bearer_auth_and_the_error_shape() {
    let text = dbx_server::http::openapi::document();
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let open = &doc["paths"]["/api/v1/shares"]["post"]["responses"]["201"]["links"]["open"];
    assert_eq!(
        open["operationId"], "open_share_link",
        "links name operations by operationId"
    );
    assert!(!text.contains("\"operation_id\""));
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (&bearer["type"], &bearer["scheme"]),
        (&"http".into(), &"bearer".into())
    );
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["ErrorBody"]["required"],
        serde_json::json!(["error"])
    );
    let codes = schemas["ErrorCode"]["enum"].as_array().expect("code enum");
    for code in [
        "invalid_request",
        "cursor_reset",
        "quota_exceeded",
        "unavailable",
    ] {
        assert!(codes.iter().any(|c| c == code), "{code} in {codes:?}");
    }
    assert!(
        !codes.iter().any(|c| c == "unknown"),
        "the server never sends unknown"
    );
    // Every operation that takes the token says so, and answers 401 without it.
    for (path, op) in operations(&doc) {
        if path.starts_with("/api/v1/auth/") && !path.ends_with("/logout")
            || path.starts_with("/s/")
            || path == "/healthz"
            || path == "/api/v1/openapi.json"
            || op["method"] == "options"
        {
            assert!(op.get("security").is_none(), "{path} needs no token");
        } else {
            assert_eq!(op["security"][0]["bearer"], serde_json::json!([]), "{path}");
            assert!(op["responses"].get("401").is_some(), "{path}");
        }
    }
}

/// `(path, operation)` of every operation of the document, with its method in `method`.
fn operations(doc: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let mut op = op.clone();
            op["method"] = method.as_str().into();
            out.push((path.clone(), op));
        }
    }
    out
}

#[tokio::test]
async fn every_documented_operation_is_a_route_and_answers_a_documented_status() {
    let server = TestServer::start().await;
    let user = server.user().await;
    let doc: Value = serde_json::from_str(&dbx_server::http::openapi::document()).expect("JSON");
    let unknown = uuid::Uuid::now_v7().to_string();
    let ops = operations(&doc);
    assert!(ops.len() >= 35, "{} operations", ops.len());
    for (path, op) in ops {
        let method = op["method"].as_str().unwrap_or_default().to_uppercase();
        let mut url = path
            .replace("{id}", &unknown)
            .replace("{version}", "1")
            .replace("{token}", "no-such-token");
        if path == "/api/v1/delta/wait" {
            url.push_str("?timeout=1");
        }
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let r = user.req(method.clone(), &url).send().await.expect("send");
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert!(
            !body.contains("no such route") && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is not a route: {status} {body}"
        );
        assert!(
            op["responses"].get(status.as_str()).is_some(),
            "{method} {path} answered {status}, which the document does not list: {body}"
        );
    }
}
