//! API.md 1.1 "Trash": deletes land in the trash; list it, restore an item (with what was
//! deleted with it, parents made again), purge one or all, over a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_error, TestServer, User};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn entry_at(u: &User, path: &str) -> Option<Value> {
    let r = u
        .req(Method::GET, "/api/v1/entries")
        .query(&[("path", path)])
        .send()
        .await
        .unwrap();
    match r.status() {
        StatusCode::OK => Some(r.json().await.unwrap()),
        StatusCode::NOT_FOUND => None,
        s => panic!("entry {path}: {s}"),
    }
}

async fn trash(u: &User) -> Vec<Value> {
    let r = u.get("/api/v1/trash").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["next"], Value::Null);
    body["entries"].as_array().unwrap().clone()
}

async fn delete_folder(u: &User, path: &str) -> Value {
    let f = entry_at(u, path).await.unwrap();
    assert_eq!(
        u.delete(&format!("/api/v1/folders/{}", id(&f)))
            .await
            .status(),
        204
    );
    f
}

async fn delete_file(u: &User, path: &str) -> Value {
    let f = entry_at(u, path).await.unwrap();
    assert_eq!(
        u.delete(&format!("/api/v1/files/{}", id(&f)))
            .await
            .status(),
        204
    );
    f
}

async fn restore(u: &User, item: &str, body: Option<Value>) -> reqwest::Response {
    let rb = u.req(Method::POST, &format!("/api/v1/trash/{item}/restore"));
    let rb = match body {
        Some(b) => rb.json(&b),
        None => rb,
    };
    rb.send().await.unwrap()
}

async fn cursor(u: &User) -> String {
    let c: Value = u.get_json("/api/v1/delta/latest").await;
    c["cursor"].as_str().unwrap().to_string()
}

/// `(op, path)` of each change after `cursor`.
async fn changes(u: &User, cursor: &str) -> Vec<(String, String)> {
    let d: Value = u.get_json(&format!("/api/v1/delta?cursor={cursor}")).await;
    d["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["op"].as_str().unwrap().to_string(),
                c["entry"]["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn deleted_entries_are_listed_newest_first_a_folder_as_one_item() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    u.put_file("/docs/a.txt", "aaaa").await;
    u.put_file("/docs/sub/b.txt", "bbbbbb").await;
    u.put_file("/c.txt", "cc").await;
    let c = delete_file(&u, "/c.txt").await;
    let docs = delete_folder(&u, "/docs").await;

    let items = trash(&u).await;
    assert_eq!(items.len(), 2, "{items:?}");
    let (first, second) = (&items[0], &items[1]);
    assert_eq!(first["id"], docs["id"]);
    assert_eq!(first["type"], "folder");
    assert_eq!(first["name"], "docs");
    assert_eq!(first["path"], "/docs");
    assert_eq!(first["size"], 10, "a folder counts its files");
    assert_eq!(second["id"], c["id"]);
    assert_eq!(second["type"], "file");
    assert_eq!(
        (second["name"].as_str(), second["path"].as_str()),
        (Some("c.txt"), Some("/c.txt"))
    );
    assert_eq!(second["size"], 2);
    let mut keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["deleted_at", "id", "name", "path", "size", "type"]);
    let (t1, t2) = (
        first["deleted_at"].as_str().unwrap(),
        second["deleted_at"].as_str().unwrap(),
    );
    assert!(t1.ends_with('Z') && t1 >= t2, "{t1} {t2}");
    // Deleted entries are not live: no listing, no path.
    assert_eq!(entry_at(&u, "/docs/a.txt").await, None);
}

#[tokio::test]
async fn restore_brings_back_everything_deleted_with_it_parents_first() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let a = u.put_file("/docs/a.txt", "aaaa").await;
    let b = u.put_file("/docs/sub/b.txt", "bbbbbb").await;
    let docs = delete_folder(&u, "/docs").await;
    let since = cursor(&u).await;

    let r = restore(&u, &id(&docs), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let back: Value = r.json().await.unwrap();
    assert_eq!(back["id"], docs["id"]);
    assert_eq!(back["type"], "folder");
    assert_eq!(back["path"], "/docs");
    // Same ids, same content, same versions.
    assert_eq!(u.download(&id(&a)).await, b"aaaa");
    let b_back = entry_at(&u, "/docs/sub/b.txt").await.unwrap();
    assert_eq!(
        (b_back["id"].as_str(), b_back["version"].as_i64()),
        (b["id"].as_str(), Some(1))
    );
    assert!(trash(&u).await.is_empty());

    let log = changes(&u, &since).await;
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(log.iter().all(|(op, _)| op == "create"), "{log:?}");
    for (i, (_, path)) in log.iter().enumerate() {
        let parent = &path[..path.rfind('/').unwrap()];
        if !parent.is_empty() {
            assert!(
                log[..i].iter().any(|(_, p)| p == parent),
                "{path} before its parent: {log:?}"
            );
        }
    }
    // An item is restored once.
    expect_error(restore(&u, &id(&docs), None).await, 404, "not_found").await;
}

#[tokio::test]
async fn restore_makes_missing_parents_again() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    u.put_file("/p/q/f.txt", "ffff").await;
    let f = delete_file(&u, "/p/q/f.txt").await;
    delete_folder(&u, "/p").await;
    let since = cursor(&u).await;
    let r = restore(&u, &id(&f), Some(json!({}))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let back: Value = r.json().await.unwrap();
    assert_eq!(back["path"], "/p/q/f.txt");
    let q = entry_at(&u, "/p/q").await.unwrap();
    assert_eq!(back["parent_id"], q["id"]);
    assert_eq!(
        changes(&u, &since).await,
        vec![
            ("create".to_string(), "/p".to_string()),
            ("create".to_string(), "/p/q".to_string()),
            ("create".to_string(), "/p/q/f.txt".to_string()),
        ]
    );
    assert_eq!(u.download(&id(&f)).await, b"ffff");
}

#[tokio::test]
async fn a_taken_name_is_409_and_a_new_place_or_name_works() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let f = u.put_file("/docs/report.txt", "old report").await;
    delete_file(&u, "/docs/report.txt").await;
    u.put_file("/docs/REPORT.txt", "new report").await;
    let since = cursor(&u).await;
    expect_error(restore(&u, &id(&f), None).await, 409, "conflict").await;
    assert!(changes(&u, &since).await.is_empty(), "nothing changed");
    assert_eq!(trash(&u).await.len(), 1);

    // Bad input: a bad name, an unknown or foreign parent, malformed JSON.
    for bad in [
        json!({"name": "a/b"}),
        json!({"name": ""}),
        json!({"name": ".."}),
    ] {
        expect_error(
            restore(&u, &id(&f), Some(bad)).await,
            400,
            "invalid_request",
        )
        .await;
    }
    expect_error(
        restore(&u, &id(&f), Some(json!({"parent_id": "no-such-folder"}))).await,
        404,
        "not_found",
    )
    .await;
    let r = u
        .req(Method::POST, &format!("/api/v1/trash/{}/restore", id(&f)))
        .body("{oops")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "invalid_request").await;

    // Under a new name in the same folder.
    let r = restore(&u, &id(&f), Some(json!({"name": "report (old).txt"}))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let back: Value = r.json().await.unwrap();
    assert_eq!(back["path"], "/docs/report (old).txt");
    assert_eq!(back["id"], f["id"]);

    // Into another folder, and to the root with `parent_id: null`.
    let g = u.put_file("/g.txt", "g").await;
    delete_file(&u, "/g.txt").await;
    let archive = u.mkdir(None, "archive").await;
    let r = restore(&u, &id(&g), Some(json!({"parent_id": archive["id"]}))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let back: Value = r.json().await.unwrap();
    assert_eq!(
        (back["path"].as_str(), &back["parent_id"]),
        (Some("/archive/g.txt"), &archive["id"])
    );
    delete_file(&u, "/archive/g.txt").await;
    let r = restore(
        &u,
        &id(&g),
        Some(json!({"parent_id": null, "name": "top.txt"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let back: Value = r.json().await.unwrap();
    assert_eq!(
        (back["path"].as_str(), &back["parent_id"]),
        (Some("/top.txt"), &Value::Null)
    );
}

#[tokio::test]
async fn purge_one_item_or_everything_for_good() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let a = u.put_file("/a.txt", "a").await;
    u.put_file("/dir/b.txt", "b").await;
    let keep = u.put_file("/keep.txt", "keep").await;
    delete_file(&u, "/a.txt").await;
    let dir = delete_folder(&u, "/dir").await;

    let r = u.delete(&format!("/api/v1/trash/{}", id(&a))).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let left: Vec<String> = trash(&u).await.iter().map(id).collect();
    assert_eq!(left, vec![id(&dir)]);
    expect_error(restore(&u, &id(&a), None).await, 404, "not_found").await;
    expect_error(
        u.delete(&format!("/api/v1/trash/{}", id(&a))).await,
        404,
        "not_found",
    )
    .await;
    // A live file is not a trash item.
    expect_error(
        u.delete(&format!("/api/v1/trash/{}", id(&keep))).await,
        404,
        "not_found",
    )
    .await;

    let r = u.delete("/api/v1/trash").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(trash(&u).await.is_empty());
    expect_error(restore(&u, &id(&dir), None).await, 404, "not_found").await;
    assert_eq!(u.download(&id(&keep)).await, b"keep");
    // Emptying an empty trash is fine.
    assert_eq!(
        u.delete("/api/v1/trash").await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn the_trash_is_paged() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    for i in 0..5 {
        u.put_file(&format!("/f{i}.txt"), "x").await;
        delete_file(&u, &format!("/f{i}.txt")).await;
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut q = vec![("limit", "2".to_string())];
        if let Some(a) = &after {
            q.push(("after", a.clone()));
        }
        let page: Value = u
            .req(Method::GET, "/api/v1/trash")
            .query(&q)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 2);
        seen.extend(
            entries
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["f4.txt", "f3.txt", "f2.txt", "f1.txt", "f0.txt"]);
    for bad in [
        "limit=0",
        "limit=10001",
        "limit=x",
        "after=%%%",
        "after=bm90LWEtdG9rZW4",
    ] {
        expect_error(
            u.get(&format!("/api/v1/trash?{bad}")).await,
            400,
            "invalid_request",
        )
        .await;
    }
}

#[tokio::test]
async fn another_users_trash_is_not_found() {
    let srv = TestServer::start().await;
    let alice = srv.user().await;
    let bob = srv.user().await;
    alice.put_file("/secret.txt", "s").await;
    let f = delete_file(&alice, "/secret.txt").await;
    assert!(trash(&bob).await.is_empty());
    expect_error(restore(&bob, &id(&f), None).await, 404, "not_found").await;
    expect_error(
        bob.delete(&format!("/api/v1/trash/{}", id(&f))).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        bob.delete("/api/v1/trash").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(trash(&alice).await.len(), 1);
    assert_eq!(bob.get("/api/v1/trash").await.status(), 200);
    let r = srv.req(Method::GET, "/api/v1/trash").send().await.unwrap();
    expect_error(r, 401, "unauthorized").await;
}
