//! API.md 1.1 "Moves and renames" over HTTP: `POST /api/v1/entries/{id}/move` for files,
//! folders and deep trees (10,000 entries in one call), its refusals (taken name, own
//! subtree, another user's ids, If-Match), share links that keep serving, and the one
//! `move` change `/delta` reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_error, TestServer, User};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// Helpers

async fn move_request(u: &User, id: &str, body: Value, if_match: Option<&str>) -> Response {
    let mut rb = u
        .req(Method::POST, &format!("/api/v1/entries/{id}/move"))
        .json(&body);
    if let Some(tag) = if_match {
        rb = rb.header("if-match", tag);
    }
    rb.send().await.expect("POST move")
}

/// Moves, expecting 200; returns the entry.
async fn moved(u: &User, id: &str, body: Value) -> Value {
    let r = move_request(u, id, body.clone(), None).await;
    assert_eq!(r.status(), StatusCode::OK, "move {id} {body}");
    r.json().await.expect("entry json")
}

async fn entry_at(u: &User, path: &str) -> Option<Value> {
    let r = u
        .req(Method::GET, "/api/v1/entries")
        .query(&[("path", path)])
        .send()
        .await
        .expect("GET entries");
    match r.status() {
        StatusCode::OK => Some(r.json().await.expect("entry json")),
        StatusCode::NOT_FOUND => None,
        s => panic!("GET entries?path={path}: {s}"),
    }
}

async fn file_meta(u: &User, id: &str) -> Value {
    let r = u.get(&format!("/api/v1/files/{id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("file json")
}

async fn latest(u: &User) -> String {
    let v: Value = u.get("/api/v1/delta/latest").await.json().await.unwrap();
    v["cursor"].as_str().unwrap().to_string()
}

/// The changes after `cursor` (one page is enough here).
async fn changes_after(u: &User, cursor: &str) -> Vec<Value> {
    let r = u
        .req(Method::GET, "/api/v1/delta")
        .query(&[("cursor", cursor)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["has_more"], false);
    v["entries"].as_array().unwrap().clone()
}

fn id(v: &Value) -> &str {
    v["id"].as_str().expect("id")
}

// ---------------------------------------------------------------------------------------
// Files and folders

#[tokio::test]
async fn files_move_and_rename_keeping_id_version_and_content() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    u.put_file("/a/x.txt", "first").await;
    let f = u.put_file("/a/x.txt", "second").await;
    let b = u.mkdir(None, "b").await;

    let m = moved(&u, id(&f), json!({"parent_id": id(&b)})).await;
    assert_eq!(m["path"], "/b/x.txt");
    assert_eq!(m["parent_id"], b["id"]);
    for same in [
        "id",
        "name",
        "version",
        "size",
        "content_hash",
        "mime_type",
        "created_at",
    ] {
        assert_eq!(m[same], f[same], "{same}");
    }
    assert_eq!(file_meta(&u, id(&f)).await, m);
    assert_eq!(entry_at(&u, "/b/x.txt").await, Some(m.clone()));
    assert_eq!(entry_at(&u, "/a/x.txt").await, None);
    assert_eq!(u.download(id(&f)).await, b"second");

    // Renamed in place; then to the root, under a new name, with `"root"` or null.
    let m = moved(&u, id(&f), json!({"name": "y.txt"})).await;
    assert_eq!(
        (m["path"].as_str(), &m["parent_id"]),
        (Some("/b/y.txt"), &b["id"])
    );
    let m = moved(&u, id(&f), json!({"parent_id": null, "name": "z.md"})).await;
    assert_eq!(
        (m["path"].as_str(), &m["parent_id"]),
        (Some("/z.md"), &Value::Null)
    );
    // The type stays what the upload said: a move changes no content.
    assert_eq!(m["mime_type"], f["mime_type"]);
    let m = moved(&u, id(&f), json!({"parent_id": id(&b)})).await;
    let m2 = moved(&u, id(&f), json!({"parent_id": "root"})).await;
    assert_eq!(
        (m["path"].as_str(), m2["path"].as_str()),
        (Some("/b/z.md"), Some("/z.md"))
    );
    // The name is normalized like every name (NFC).
    let m = moved(&u, id(&f), json!({"name": "e\u{301}.txt"})).await;
    assert_eq!(m["name"], "\u{e9}.txt");
    let me: Value = u.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["usage_bytes"], 6);
}

#[tokio::test]
async fn folders_move_with_everything_below_them() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let f = u.put_file("/d/e/f.txt", "f").await;
    let g = u.put_file("/d/g.txt", "g").await;
    let h = u.put_file("/dx/h.txt", "h").await;
    let d = entry_at(&u, "/d").await.unwrap();
    let e = entry_at(&u, "/d/e").await.unwrap();
    let into = u.mkdir(None, "into").await;

    let m = moved(&u, id(&d), json!({"parent_id": id(&into), "name": "D2"})).await;
    assert_eq!(
        (m["type"].as_str(), m["path"].as_str()),
        (Some("folder"), Some("/into/D2"))
    );
    assert_eq!(m["id"], d["id"]);
    for (old, path) in [
        (&e, "/into/D2/e"),
        (&f, "/into/D2/e/f.txt"),
        (&g, "/into/D2/g.txt"),
    ] {
        let now = entry_at(&u, path).await.expect(path);
        assert_eq!(
            (&now["id"], &now["parent_id"]),
            (&old["id"], &old["parent_id"]),
            "{path}"
        );
        assert_eq!(entry_at(&u, old["path"].as_str().unwrap()).await, None);
    }
    assert_eq!(file_meta(&u, id(&f)).await["path"], "/into/D2/e/f.txt");
    assert_eq!(u.download(id(&g)).await, b"g");
    let listed: Value = u
        .get(&format!("/api/v1/folders/{}/children", id(&d)))
        .await
        .json()
        .await
        .unwrap();
    let paths: Vec<&str> = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/into/D2/e", "/into/D2/g.txt"]);
    // A sibling whose name starts the same stays where it was.
    assert_eq!(file_meta(&u, id(&h)).await["path"], "/dx/h.txt");
    // New content goes to the new place by either address.
    let f2 = u.put_file("/into/d2/E/f.txt", "f2").await;
    assert_eq!((&f2["id"], f2["version"].as_i64()), (&f["id"], Some(2)));
}

#[tokio::test]
async fn a_deep_tree_moves_and_comes_back() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let deep: Vec<String> = (0..30).map(|i| format!("level{i}")).collect();
    let leaf_path = format!("/top/{}/leaf.txt", deep.join("/"));
    let leaf = u.put_file(&leaf_path, "leaf").await;
    let mid = u
        .put_file(&format!("/top/{}/mid.txt", deep[..15].join("/")), "mid")
        .await;
    let top = entry_at(&u, "/top").await.unwrap();
    let under = u.mkdir(None, "under").await;

    moved(&u, id(&top), json!({"parent_id": id(&under)})).await;
    assert_eq!(
        file_meta(&u, id(&leaf)).await["path"],
        format!("/under{leaf_path}")
    );
    // A folder from the middle of the tree goes up to the root.
    let l10 = entry_at(&u, &format!("/under/top/{}", deep[..11].join("/")))
        .await
        .unwrap();
    moved(&u, id(&l10), json!({"parent_id": null})).await;
    assert_eq!(
        file_meta(&u, id(&leaf)).await["path"],
        format!("/level10/{}/leaf.txt", deep[11..].join("/"))
    );
    assert_eq!(
        file_meta(&u, id(&mid)).await["path"],
        format!("/level10/{}/mid.txt", deep[11..15].join("/"))
    );
}

/// 10,000 entries below one folder (100 folders of 99 files) move in one request. The tree
/// is written straight into the server's database in one transaction (see `seed_tree`):
/// 10,000 uploads over HTTP take over a minute per backend here, most of it in fsyncs.
#[tokio::test]
async fn a_folder_of_ten_thousand_entries_moves_in_one_call() {
    let mut database = String::new();
    let srv = TestServer::start_with(|a| database = a.store.database_url()).await;
    let u = srv.user().await;
    let big = u.mkdir(None, "big").await;
    let content = u.put_file("/content.txt", "the same bytes").await;
    let (big_id, content_id) = (id(&big).to_string(), id(&content).to_string());
    let seeded = tokio::task::spawn_blocking(move || {
        seed_tree(&database, &big_id, "/big", &content_id, 100, 99)
    })
    .await
    .unwrap();
    assert_eq!(seeded.len(), 10_000);
    // Also one real upload deep inside, and its share link.
    let real = u.put_file("/big/d42/real.txt", "real").await;
    let share: Value = u
        .post("/api/v1/shares", json!({"file_id": id(&real)}))
        .await
        .json()
        .await
        .unwrap();
    let before = latest(&u).await;

    let started = std::time::Instant::now();
    let m = moved(&u, id(&big), json!({"parent_id": null, "name": "moved"})).await;
    eprintln!("moved 10,000 entries in {:?}", started.elapsed());
    assert_eq!(m["path"], "/moved");

    // One change for all of it; every entry answers at its new path with its old id.
    let log = changes_after(&u, &before).await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0]["op"].as_str(), log[0]["from_path"].as_str()),
        (Some("move"), Some("/big"))
    );
    for (entry_id, path) in seeded.iter().step_by(997) {
        let new_path = path.replacen("/big/", "/moved/", 1);
        let e = entry_at(&u, &new_path).await.expect(&new_path);
        assert_eq!(e["id"].as_str(), Some(entry_id.as_str()), "{new_path}");
        assert_eq!(entry_at(&u, path).await, None);
    }
    let d42 = entry_at(&u, "/moved/d42").await.unwrap();
    let listed: Value = u
        .get(&format!("/api/v1/folders/{}/children?limit=1000", id(&d42)))
        .await
        .json()
        .await
        .unwrap();
    let listed = listed["entries"].as_array().unwrap();
    assert_eq!(listed.len(), 100);
    assert!(listed
        .iter()
        .all(|e| e["path"].as_str().unwrap().starts_with("/moved/d42/f")
            || e["path"] == "/moved/d42/real.txt"));
    assert_eq!(
        file_meta(&u, id(&real)).await["path"],
        "/moved/d42/real.txt"
    );
    let seeded_file = entry_at(&u, "/moved/d99/f98.txt").await.unwrap();
    assert_eq!(u.download(id(&seeded_file)).await, b"the same bytes");
    let r = srv
        .client
        .get(share["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), "real");
    assert_eq!(entry_at(&u, "/big").await, None);
}

/// Writes `folders` folders `d00`.. of `files` files `f00.txt`.. each below the folder
/// `parent` (at `parent_path`), as the server would have, in one transaction; every file
/// has the content of the file `content_id`. Returns the (id, path) of each new entry.
fn seed_tree(
    database_url: &str,
    parent: &str,
    parent_path: &str,
    content_id: &str,
    folders: usize,
    files: usize,
) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let mut out = Vec::new();
    for d in 0..folders {
        let folder_id = uuid::Uuid::now_v7().to_string();
        let name = format!("d{d:02}");
        let path = format!("{parent_path}/{name}");
        rows.push((folder_id.clone(), parent.to_string(), 0, name, path.clone()));
        out.push((folder_id.clone(), path.clone()));
        for f in 0..files {
            let id = uuid::Uuid::now_v7().to_string();
            let name = format!("f{f:02}.txt");
            let file_path = format!("{path}/{name}");
            rows.push((id.clone(), folder_id.clone(), 1, name, file_path.clone()));
            out.push((id, file_path));
        }
    }
    let now = chrono::Utc::now().timestamp_millis();
    // Every column from the content file's row, and these five of each new one.
    let insert =
        |p: [&str; 6]| {
            format!(
            "INSERT INTO entries (id, user_id, parent_id, kind, name, name_key, path, path_key, \
             size, mime_type, content_hash, version, blob_key, created_at, updated_at) \
             SELECT {}, user_id, {}, {}, {}, lower({}), {}, lower({}), \
             CASE WHEN {} = 1 THEN size END, CASE WHEN {} = 1 THEN mime_type END, \
             CASE WHEN {} = 1 THEN content_hash END, CASE WHEN {} = 1 THEN 1 END, \
             CASE WHEN {} = 1 THEN blob_key END, {}, {} FROM entries WHERE id = {}",
            p[0], p[1], p[2], p[3], p[3], p[4], p[4], p[2], p[2], p[2], p[2], p[2], p[5], p[5], "$6"
        )
        };
    if let Some(file) = database_url.strip_prefix("sqlite://") {
        let mut c = rusqlite::Connection::open(file).expect("open");
        c.busy_timeout(std::time::Duration::from_secs(10))
            .expect("timeout");
        let tx = c.transaction().expect("begin");
        {
            let sql = insert(["?1", "?2", "?3", "?4", "?5", "?7"]).replace("$6", "?6");
            let mut stmt = tx.prepare(&sql).expect("prepare");
            for (id, parent, kind, name, path) in &rows {
                stmt.execute(rusqlite::params![
                    id, parent, kind, name, path, content_id, now
                ])
                .expect("insert");
            }
        }
        tx.commit().expect("commit");
    } else {
        let mut c = postgres::Client::connect(database_url, postgres::NoTls).expect("connect");
        let mut tx = c.transaction().expect("begin");
        let sql = insert(["$1", "$2", "$3::INT", "$4", "$5", "$7"]);
        let stmt = tx.prepare(&sql).expect("prepare");
        for (id, parent, kind, name, path) in &rows {
            tx.execute(&stmt, &[id, parent, kind, name, path, &content_id, &now])
                .expect("insert");
        }
        tx.commit().expect("commit");
    }
    out
}

// ---------------------------------------------------------------------------------------
// Refusals

#[tokio::test]
async fn refused_moves_change_nothing() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let other = srv.user().await;
    let f = u.put_file("/a/f.txt", "f").await;
    u.put_file("/b/Taken.txt", "t").await;
    let a = entry_at(&u, "/a").await.unwrap();
    let b = entry_at(&u, "/b").await.unwrap();
    let below = u.mkdir(Some(id(&a)), "below").await;
    let theirs = other.put_file("/theirs/t.txt", "t").await;
    let their_dir = entry_at(&other, "/theirs").await.unwrap();
    let before = latest(&u).await;

    let cases: Vec<(&str, Value, u16, &str)> = vec![
        // At least one field; names checked like every name.
        (id(&f), json!({}), 400, "invalid_request"),
        (id(&f), json!({"name": "a/b"}), 400, "invalid_request"),
        (id(&f), json!({"name": ".."}), 400, "invalid_request"),
        (id(&f), json!({"name": ""}), 400, "invalid_request"),
        (id(&f), json!({"name": 7}), 400, "invalid_request"),
        // Taken there, case-insensitively, by a file or a folder.
        (
            id(&f),
            json!({"parent_id": id(&b), "name": "TAKEN.txt"}),
            409,
            "conflict",
        ),
        (id(&f), json!({"name": "Below"}), 409, "conflict"),
        (id(&b), json!({"name": "A"}), 409, "conflict"),
        // Into its own subtree.
        (id(&a), json!({"parent_id": id(&a)}), 400, "invalid_request"),
        (
            id(&a),
            json!({"parent_id": id(&below)}),
            400,
            "invalid_request",
        ),
        // Another user's ids, unknown ids, a file as the target folder.
        (id(&theirs), json!({"parent_id": null}), 404, "not_found"),
        (id(&their_dir), json!({"name": "mine"}), 404, "not_found"),
        (
            id(&f),
            json!({"parent_id": id(&their_dir)}),
            404,
            "not_found",
        ),
        (id(&f), json!({"parent_id": "no-such-id"}), 404, "not_found"),
        (id(&a), json!({"parent_id": id(&f)}), 404, "not_found"),
        ("no-such-id", json!({"name": "x"}), 404, "not_found"),
    ];
    for (target, body, status, code) in cases {
        let r = move_request(&u, target, body.clone(), None).await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        expect_error(r, status, code).await;
    }
    let r = u
        .req(Method::POST, &format!("/api/v1/entries/{}/move", id(&f)))
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "invalid_request").await;
    let r = srv
        .req(Method::POST, &format!("/api/v1/entries/{}/move", id(&f)))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 401, "unauthorized").await;

    assert_eq!(changes_after(&u, &before).await, Vec::<Value>::new());
    assert_eq!(file_meta(&u, id(&f)).await, f);
    assert_eq!(entry_at(&u, "/a/below").await.unwrap()["id"], below["id"]);
    assert_eq!(file_meta(&other, id(&theirs)).await, theirs);
}

#[tokio::test]
async fn if_match_guards_file_moves() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    u.put_file("/f.txt", "1").await;
    let f = u.put_file("/f.txt", "2").await;
    let other = u.put_file("/other.txt", "x").await;
    let dir = u.mkdir(None, "dir").await;
    let fid = id(&f);
    let before = latest(&u).await;

    let stale = [
        "\"1\"".to_string(),
        format!("\"{fid}:1\""),
        format!("\"{}:2\"", id(&other)),
    ];
    for tag in &stale {
        let r = move_request(&u, fid, json!({"name": "g.txt"}), Some(tag.as_str())).await;
        expect_error(r, 412, "precondition_failed").await;
    }
    // A folder has no version to match.
    let r = move_request(&u, id(&dir), json!({"name": "d"}), Some("\"1\"")).await;
    expect_error(r, 412, "precondition_failed").await;
    for bad in ["\"x\"", "\"a:b\"", "\":2\""] {
        let r = move_request(&u, fid, json!({"name": "g.txt"}), Some(bad)).await;
        expect_error(r, 400, "invalid_request").await;
    }
    assert_eq!(changes_after(&u, &before).await, Vec::<Value>::new());

    let current = format!("\"{fid}:2\"");
    let r = move_request(&u, fid, json!({"name": "g.txt"}), Some(current.as_str())).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = move_request(&u, fid, json!({"name": "h.txt"}), Some("\"2\"")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = move_request(&u, fid, json!({"name": "i.txt"}), Some("*")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(file_meta(&u, fid).await["path"], "/i.txt");
}

// ---------------------------------------------------------------------------------------
// What stays and what is reported

#[tokio::test]
async fn share_links_keep_serving_after_a_move() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let f = u.put_file("/docs/report.pdf", "the report").await;
    let r = u.post("/api/v1/shares", json!({"file_id": id(&f)})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let share: Value = r.json().await.unwrap();
    let url = share["url"].as_str().unwrap().to_string();
    let docs = entry_at(&u, "/docs").await.unwrap();
    let archive = u.mkdir(None, "archive").await;

    moved(&u, id(&f), json!({"name": "final.pdf"})).await;
    moved(
        &u,
        id(&docs),
        json!({"parent_id": id(&archive), "name": "old docs"}),
    )
    .await;
    let r = srv.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.contains("final.pdf"), "{disposition}");
    assert_eq!(r.bytes().await.unwrap(), "the report");
    let shares: Value = u.get("/api/v1/shares").await.json().await.unwrap();
    assert_eq!(shares["shares"][0]["file_id"], f["id"]);
    assert_eq!(shares["shares"][0]["disabled"], false);
}

#[tokio::test]
async fn delta_reports_one_move_with_its_old_path() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let f = u.put_file("/p/q/f.txt", "f").await;
    let p = entry_at(&u, "/p").await.unwrap();
    let cursor = latest(&u).await;
    let wait = {
        let u = u.clone();
        let cursor = cursor.clone();
        tokio::spawn(async move {
            let r = u
                .req(Method::GET, "/api/v1/delta/wait")
                .query(&[("cursor", cursor.as_str()), ("timeout", "30")])
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        })
    };

    let m = moved(&u, id(&p), json!({"name": "P2"})).await;
    assert_eq!(wait.await.unwrap(), json!({"changes": true}));
    let mf = moved(&u, id(&f), json!({"parent_id": null})).await;
    let log = changes_after(&u, &cursor).await;
    assert_eq!(
        log,
        vec![
            json!({"op": "move", "from_path": "/p", "entry": m}),
            json!({"op": "move", "from_path": "/P2/q/f.txt", "entry": mf}),
        ]
    );
    // Other ops carry no from_path.
    let before = latest(&u).await;
    u.put_file("/new.txt", "n").await;
    let log = changes_after(&u, &before).await;
    assert_eq!(log[0].as_object().map(|o| o.len()), Some(2), "{}", log[0]);
}

#[tokio::test]
async fn the_same_place_is_a_no_op_and_a_case_only_rename_works() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let f = u.put_file("/Photos/cat.JPG", "meow").await;
    let photos = entry_at(&u, "/photos").await.unwrap();
    let before = latest(&u).await;

    for body in [
        json!({"name": "Photos"}),
        json!({"parent_id": null}),
        json!({"parent_id": null, "name": "Photos"}),
    ] {
        let same = moved(&u, id(&photos), body).await;
        assert_eq!(same, photos);
    }
    assert_eq!(changes_after(&u, &before).await, Vec::<Value>::new());

    let m = moved(&u, id(&photos), json!({"name": "photos"})).await;
    assert_eq!(
        (m["name"].as_str(), m["path"].as_str()),
        (Some("photos"), Some("/photos"))
    );
    assert_eq!(file_meta(&u, id(&f)).await["path"], "/photos/cat.JPG");
    let mf = moved(&u, id(&f), json!({"name": "cat.jpg"})).await;
    assert_eq!(mf["path"], "/photos/cat.jpg");
    let log = changes_after(&u, &before).await;
    let from: Vec<&str> = log
        .iter()
        .map(|c| c["from_path"].as_str().unwrap())
        .collect();
    assert_eq!(from, ["/Photos", "/photos/cat.JPG"]);
}
