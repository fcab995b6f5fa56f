//! Fault injection (issue 11): every failpoint at a database or blob call of a write path
//! (`server/src/failpoints.rs`), made to fail (and, on the database's blocking pool, to
//! panic) under the operation that reaches it, through the real HTTP interface (or gc's
//! area logic). After each: the reply is API.md's 500 `internal` or 503 `unavailable` (with
//! Retry-After), within seconds; nothing changed (the live tree, the trash, every file's
//! versions); every file reads back; no committed row points to a missing blob; the change
//! log is gap-free and replays to the live tree; and the same call then succeeds.
//!
//! Built only with `--features failpoints` (scripts/test.sh); the backends come from the
//! environment as for every HTTP suite.
#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::invariants::{check_change_log, Account, AccountState};
use common::{check_error_body, TestServer, User};
use dbx_server::gc::GcPolicy;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// A new file in a folder that does not exist yet (made by the upload).
    Upload,
    /// A new version of a file, with If-Match.
    Overwrite,
    /// An upload whose bytes do not match X-Content-Hash: refused, its blob discarded.
    UploadBadHash,
    CreateFolder,
    DeleteFile,
    DeleteFolder,
    MoveFile,
    MoveFolder,
    RestoreVersion,
    /// A folder with a file in it, back from the trash.
    RestoreTrash,
    PurgeItem,
    PurgeAll,
    /// A new version through WebDAV's PUT, the second front door.
    DavPut,
    /// `dbx-server gc` with no grace and no retention.
    Gc,
}

const HTTP_OPS: [Op; 13] = [
    Op::Upload,
    Op::Overwrite,
    Op::UploadBadHash,
    Op::CreateFolder,
    Op::DeleteFile,
    Op::DeleteFolder,
    Op::MoveFile,
    Op::MoveFolder,
    Op::RestoreVersion,
    Op::RestoreTrash,
    Op::PurgeItem,
    Op::PurgeAll,
    Op::DavPut,
];

/// How a failpoint is made to fail.
const RETURN: &str = "return";
const UNAVAILABLE: &str = "return(unavailable)";
const PANIC: &str = "panic";
/// Passes the first time, fails the second (a step inside a loop).
const SECOND: &str = "1*off->return";

/// The failpoints, each with the operations that reach it and the ways it fails.
fn walk() -> Vec<(&'static str, Vec<Op>, Vec<&'static str>)> {
    let db = vec![RETURN, PANIC];
    vec![
        ("db.run", HTTP_OPS.to_vec(), vec![UNAVAILABLE]),
        (
            "db.commit",
            HTTP_OPS
                .into_iter()
                .filter(|op| *op != Op::UploadBadHash)
                .collect(),
            vec![RETURN, UNAVAILABLE, PANIC],
        ),
        (
            "db.after_commit",
            vec![Op::Upload, Op::Overwrite, Op::DeleteFile, Op::MoveFile],
            vec![RETURN],
        ),
        (
            "upload.precheck",
            vec![Op::Upload],
            vec![RETURN, UNAVAILABLE],
        ),
        (
            "upload.blob_put",
            vec![Op::Overwrite, Op::DavPut],
            vec![RETURN, UNAVAILABLE],
        ),
        ("upload.discard", vec![Op::UploadBadHash], vec![RETURN]),
        (
            "folder.insert",
            vec![Op::Upload, Op::CreateFolder],
            db.clone(),
        ),
        ("folder.log", vec![Op::Upload, Op::CreateFolder], db.clone()),
        ("file.inline", vec![Op::Upload], db.clone()),
        ("file.insert", vec![Op::Upload], db.clone()),
        ("file.version", vec![Op::Upload], db.clone()),
        ("file.log", vec![Op::Upload], db.clone()),
        (
            "content.update",
            vec![Op::Overwrite, Op::RestoreVersion, Op::DavPut],
            db.clone(),
        ),
        (
            "content.retire",
            vec![Op::Overwrite, Op::RestoreVersion],
            db.clone(),
        ),
        (
            "content.version",
            vec![Op::Overwrite, Op::RestoreVersion],
            db.clone(),
        ),
        (
            "content.log",
            vec![Op::Overwrite, Op::RestoreVersion, Op::DavPut],
            db.clone(),
        ),
        (
            "delete.mark",
            vec![Op::DeleteFile, Op::DeleteFolder],
            db.clone(),
        ),
        (
            "delete.log",
            vec![Op::DeleteFile, Op::DeleteFolder],
            db.clone(),
        ),
        (
            "move.relocate",
            vec![Op::MoveFile, Op::MoveFolder],
            db.clone(),
        ),
        ("move.log", vec![Op::MoveFile, Op::MoveFolder], db.clone()),
        (
            "trash_restore.undelete",
            vec![Op::RestoreTrash],
            vec![RETURN, SECOND, PANIC],
        ),
        (
            "trash_restore.log",
            vec![Op::RestoreTrash],
            vec![RETURN, SECOND, PANIC],
        ),
        (
            "purge.item",
            vec![Op::PurgeItem, Op::PurgeAll],
            vec![RETURN, PANIC],
        ),
        ("purge.item", vec![Op::PurgeAll], vec![SECOND]),
        ("expire.versions", vec![Op::Gc], vec![RETURN, PANIC]),
        ("expire.trash_item", vec![Op::Gc], vec![RETURN, SECOND]),
        ("gc.referenced", vec![Op::Gc], vec![RETURN]),
        ("gc.list", vec![Op::Gc], vec![RETURN, UNAVAILABLE]),
        ("gc.delete", vec![Op::Gc], vec![RETURN, SECOND]),
        ("gc.stale_uploads", vec![Op::Gc], vec![RETURN]),
    ]
}

/// The failpoints in the server's source, by the macros that place them.
fn failpoints_in_source() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = dirs.pop() {
        for item in std::fs::read_dir(&dir).unwrap() {
            let path = item.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for marker in ["fail_db!(\"", "fail_blob!(\""] {
                for rest in text.split(marker).skip(1) {
                    found.insert(rest.split('"').next().unwrap().to_string());
                }
            }
        }
    }
    found
}

/// What each case works on, made fresh under `/k<n>`.
struct Fixture {
    n: usize,
    folder: String,
    /// `/k<n>/f.txt`, at version 2.
    file: String,
    /// `/k<n>/sub`, with `g.txt` in it.
    sub: String,
    /// The trash item of `/k<n>/gone`, deleted with `h.txt` in it.
    gone: String,
    /// The trash item of `/k<n>/old.txt`.
    old: String,
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn fixture(u: &User, n: usize) -> Fixture {
    let put = |path: String, body: &'static str| async move { u.put_file(&path, body).await };
    put(format!("/k{n}/f.txt"), "one").await;
    let file = id(&put(format!("/k{n}/f.txt"), "two").await);
    let folder = u.get_json(&format!("/api/v1/files/{file}")).await["parent_id"]
        .as_str()
        .unwrap()
        .to_string();
    let g = put(format!("/k{n}/sub/g.txt"), "gee").await;
    let sub = g["parent_id"].as_str().unwrap().to_string();
    let h = put(format!("/k{n}/gone/h.txt"), "aitch").await;
    let gone = h["parent_id"].as_str().unwrap().to_string();
    assert_eq!(
        u.delete(&format!("/api/v1/folders/{gone}")).await.status(),
        204
    );
    let old = id(&put(format!("/k{n}/old.txt"), "old").await);
    assert_eq!(
        u.delete(&format!("/api/v1/files/{old}")).await.status(),
        204
    );
    Fixture {
        n,
        folder,
        file,
        sub,
        gone,
        old,
    }
}

/// What an operation answered.
enum Outcome {
    Http(StatusCode, Option<u64>, String),
    Gc(Result<(), String>),
}

/// The test's second handle on the server's database and blob store.
type Stores = (
    dbx_server::metadata::Db,
    std::sync::Arc<dyn dbx_server::storage::BlobStore>,
);

async fn perform(stores: &Stores, u: &User, dav: &common::Dav, op: Op, fx: &Fixture) -> Outcome {
    let n = fx.n;
    let req = match op {
        Op::Upload => u
            .req(Method::PUT, "/api/v1/files/content")
            .query(&[("path", format!("/k{n}/new/n.txt"))])
            .body("new"),
        Op::Overwrite => u
            .req(Method::PUT, "/api/v1/files/content")
            .query(&[("path", format!("/k{n}/f.txt"))])
            .header("if-match", format!("\"{}:2\"", fx.file))
            .body("three"),
        Op::UploadBadHash => u
            .req(Method::PUT, "/api/v1/files/content")
            .query(&[("path", format!("/k{n}/bad.txt"))])
            .header("x-content-hash", "0".repeat(64))
            .body("bad hash"),
        Op::CreateFolder => u
            .req(Method::POST, "/api/v1/folders")
            .json(&json!({"parent_id": fx.folder, "name": "made"})),
        Op::DeleteFile => u
            .req(Method::DELETE, &format!("/api/v1/files/{}", fx.file))
            .header("if-match", format!("\"{}:2\"", fx.file)),
        Op::DeleteFolder => u.req(Method::DELETE, &format!("/api/v1/folders/{}", fx.sub)),
        Op::MoveFile => u
            .req(Method::POST, &format!("/api/v1/entries/{}/move", fx.file))
            .json(&json!({"name": "moved.txt"})),
        Op::MoveFolder => u
            .req(Method::POST, &format!("/api/v1/entries/{}/move", fx.sub))
            .json(&json!({"parent_id": null, "name": format!("k{n}-moved")})),
        Op::RestoreVersion => u
            .req(Method::POST, &format!("/api/v1/files/{}/restore", fx.file))
            .json(&json!({"version": 1})),
        Op::RestoreTrash => u.req(Method::POST, &format!("/api/v1/trash/{}/restore", fx.gone)),
        Op::PurgeItem => u.req(Method::DELETE, &format!("/api/v1/trash/{}", fx.old)),
        Op::PurgeAll => u.req(Method::DELETE, "/api/v1/trash"),
        Op::DavPut => dav.req("PUT", &format!("/k{n}/f.txt")).body("via dav"),
        Op::Gc => {
            let (db, blobs) = stores;
            let policy = GcPolicy {
                grace: Duration::ZERO,
                version_retention: Duration::ZERO,
                trash_retention: Duration::ZERO,
            };
            let done =
                dbx_server::gc::collect(db, blobs.as_ref(), &policy, chrono::Utc::now(), false)
                    .await;
            return Outcome::Gc(done.map(|_| ()).map_err(|e| e.to_string()));
        }
    };
    let r = req
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{op:?}: no reply: {e}"));
    let status = r.status();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    Outcome::Http(status, retry, r.text().await.unwrap_or_default())
}

/// The status an operation answers when it succeeds.
fn success(op: Op) -> StatusCode {
    match op {
        Op::Upload | Op::CreateFolder => StatusCode::CREATED,
        Op::UploadBadHash => StatusCode::UNPROCESSABLE_ENTITY,
        Op::DeleteFile | Op::DeleteFolder | Op::PurgeItem | Op::PurgeAll | Op::DavPut => {
            StatusCode::NO_CONTENT
        }
        _ => StatusCode::OK,
    }
}

/// The failure the failpoint must have caused, as the caller sees it.
fn check_failure(what: &str, op: Op, action: &str, outcome: &Outcome) {
    let (status, retry, body) = match outcome {
        Outcome::Gc(r) => {
            assert!(r.is_err(), "{what}: gc did not fail");
            return;
        }
        Outcome::Http(status, retry, body) => (*status, *retry, body),
    };
    if op == Op::UploadBadHash && action != UNAVAILABLE && what.starts_with("upload.discard") {
        // The refusal stands; only the clean-up of its blob failed (gc takes it).
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        return;
    }
    if op == Op::DavPut {
        assert!(status.is_server_error(), "{what}: WebDAV answered {status}");
        return;
    }
    let code = if action == UNAVAILABLE {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
        assert!(retry.is_some_and(|s| s >= 1), "{what}: no Retry-After");
        "unavailable"
    } else {
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{what}: {body}");
        "internal"
    };
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: {body}"));
    check_error_body(&body, code);
}

/// The invariants that hold whatever failed: every file reads back, no row points to a
/// missing blob, the change log is gap-free and replays to the live tree.
async fn check_invariants(what: &str, stores: &Stores, u: &User) -> AccountState {
    let account = Account {
        client: &u.client,
        base: &u.base,
        token: &u.token,
    };
    let state = account
        .state()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    account
        .check_contents(&state.live)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let (db, blobs) = stores;
    let report = dbx_server::gc::check(db, blobs.as_ref()).await.unwrap();
    assert!(
        report.missing_blobs.is_empty(),
        "{what}: missing blobs {report:?}"
    );
    let (user, live) = (u.id.clone(), state.live.clone());
    db.run(move |r| {
        check_change_log(r, &user, &live).map_err(dbx_server::metadata::RepoError::Invalid)
    })
    .await
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    state
}

/// A new account, registered and logged in from an address of its own.
async fn account(server: &TestServer, n: usize) -> User {
    let from = format!("2001:db8:{n:x}::1");
    let email = format!("fp{n}@example.com");
    let creds = json!({"email": email, "password": "failpoint walk"});
    for call in ["register", "login"] {
        let r = server
            .req(Method::POST, &format!("/api/v1/auth/{call}"))
            .header("x-forwarded-for", &from)
            .json(&creds)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{call}: {}", r.status());
        if call == "login" {
            let body: Value = r.json().await.unwrap();
            return User {
                id: body["user"]["id"].as_str().unwrap().to_string(),
                email,
                token: body["access_token"].as_str().unwrap().to_string(),
                refresh: body["refresh_token"].as_str().unwrap().to_string(),
                base: server.base.clone(),
                client: server.client.clone(),
            };
        }
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failpoint_leaves_the_invariants_whole() {
    let walk = walk();
    let covered: BTreeSet<String> = walk.iter().map(|(p, _, _)| p.to_string()).collect();
    assert_eq!(
        covered,
        failpoints_in_source(),
        "the walk covers exactly the failpoints in the source"
    );

    // Each case has an account of its own, registered from an address of its own (the
    // server believes the test's X-Forwarded-For), so no rate limit gets in the way.
    // Content of up to 4 bytes is kept in the database: "new" (Op::Upload) takes that path,
    // "three", "bad hash" and "via dav" the blob store's.
    let server = TestServer::start_with(|a| {
        a.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        a.inline_max_bytes = 4;
    })
    .await;
    let stores = server.stores().await;
    let mut n = 0;
    for (point, ops, actions) in &walk {
        for op in ops {
            for action in actions {
                n += 1;
                let what = format!("{point}={action} under {op:?}");
                let u = account(&server, n).await;
                let dav = match op {
                    Op::DavPut => u.dav().await,
                    _ => common::Dav {
                        base: u.base.clone(),
                        email: u.email.clone(),
                        password: String::new(),
                        client: u.client.clone(),
                    },
                };
                let fx = fixture(&u, n).await;
                let before = check_invariants(&what, &stores, &u).await;

                fail::cfg(*point, action).unwrap();
                let outcome = tokio::time::timeout(
                    Duration::from_secs(30),
                    perform(&stores, &u, &dav, *op, &fx),
                )
                .await;
                fail::remove(*point);
                let outcome = outcome.unwrap_or_else(|_| panic!("{what}: no answer in 30 s"));
                check_failure(&what, *op, action, &outcome);

                let after = check_invariants(&what, &stores, &u).await;
                let committed = *point == "db.after_commit";
                if *op == Op::Gc {
                    // A partial gc may have purged some expired things, never a live one.
                    assert_eq!(after.live, before.live, "{what}: the live tree changed");
                } else if !committed {
                    assert_eq!(after, before, "{what}: a failed write changed something");
                }

                // The server is not wedged: the same call now goes through.
                if !committed {
                    match perform(&stores, &u, &dav, *op, &fx).await {
                        Outcome::Http(status, _, body) => {
                            assert_eq!(status, success(*op), "{what}, again: {body}")
                        }
                        Outcome::Gc(r) => r.unwrap_or_else(|e| panic!("{what}, again: {e}")),
                    }
                    check_invariants(&format!("{what}, again"), &stores, &u).await;
                }
            }
        }
    }
    // What the failures left behind (blobs of uploads whose commit was in doubt, a
    // discard that failed) goes with the next gc.
    let (db, blobs) = &stores;
    let policy = GcPolicy {
        grace: Duration::ZERO,
        version_retention: Duration::from_secs(86_400),
        trash_retention: Duration::from_secs(86_400),
    };
    dbx_server::gc::collect(db, blobs.as_ref(), &policy, chrono::Utc::now(), false)
        .await
        .unwrap();
    let report = dbx_server::gc::check(db, blobs.as_ref()).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    eprintln!("{n} failure cases over {} failpoints", covered.len());
    server.stop().await;
}
