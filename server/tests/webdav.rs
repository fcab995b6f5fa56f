//! WebDAV at `/dav` over a real socket: every change goes through the API's logic (same
//! entries, versions and change log), downloads stream with Range, folders delete as one,
//! COPY shares content, MOVE is the API's move (ids kept), names follow API.md, locks hold
//! writers off, and a cut upload changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{content_hash, expect_error, Dav, TestServer, User};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn entry(u: &User, path: &str) -> Option<Value> {
    let r = u
        .req(reqwest::Method::GET, "/api/v1/entries")
        .query(&[("path", path)])
        .send()
        .await
        .unwrap();
    match r.status().as_u16() {
        200 => Some(r.json().await.unwrap()),
        404 => None,
        s => panic!("GET /entries {path}: {s}"),
    }
}

/// The change log from the start, as (op, path) pairs.
async fn changes(u: &User) -> Vec<(String, String)> {
    let d: Value = u
        .get("/api/v1/delta?limit=10000")
        .await
        .json()
        .await
        .unwrap();
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

async fn setup() -> (TestServer, User, Dav) {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let dav = u.dav().await;
    (srv, u, dav)
}

#[tokio::test]
async fn writes_go_through_the_api_logic_and_its_change_log() {
    let (_srv, u, dav) = setup().await;
    assert_eq!(dav.put("/docs/a.txt", "x").await.status(), 409, "no parent");
    assert_eq!(dav.send("MKCOL", "/docs").await.status(), 201);
    assert_eq!(
        dav.send("MKCOL", "/DOCS").await.status(),
        405,
        "taken, any case"
    );
    assert_eq!(dav.send("MKCOL", "/no/such").await.status(), 409);
    assert_eq!(dav.put("/docs/a.txt", "hello world").await.status(), 201);
    let r = dav.put("/docs/a.txt", "hello again, world").await;
    assert_eq!(r.status(), 204);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let file = entry(&u, "/docs/a.txt").await.expect("the API sees it");
    assert_eq!(file["version"], 2);
    assert_eq!(file["size"], 18);
    assert_eq!(file["mime_type"], "text/plain");
    assert_eq!(file["content_hash"], content_hash(b"hello again, world"));
    assert_eq!(etag, format!("\"{}\"", content_hash(b"hello again, world")));
    let ops = changes(&u).await;
    assert_eq!(
        ops,
        [
            ("create".into(), "/docs".into()),
            ("create".into(), "/docs/a.txt".into()),
            ("update".into(), "/docs/a.txt".into()),
        ]
    );
    // What the API writes, WebDAV reads.
    u.put_file("/docs/b.bin", vec![7u8; 1000]).await;
    let r = dav.send("GET", "/docs/b.bin").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), vec![7u8; 1000]);
}

#[tokio::test]
async fn downloads_take_ranges() {
    let (_srv, u, dav) = setup().await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    u.put_file("/big.bin", data.clone()).await;
    let r = dav
        .req("GET", "/big.bin")
        .header("Range", "bytes=1000-200999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        "bytes 1000-200999/300000"
    );
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        data[1000..201_000].to_vec()
    );
    let r = dav
        .req("GET", "/big.bin")
        .header("Range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().to_vec(), data[299_990..].to_vec());
    let r = dav
        .req("GET", "/big.bin")
        .header("Range", "bytes=300000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    let r = dav.send("HEAD", "/big.bin").await;
    assert_eq!(r.headers()["content-length"], "300000");
    let r = dav.send("GET", "/big.bin").await;
    assert_eq!(r.bytes().await.unwrap().to_vec(), data);
}

#[tokio::test]
async fn propfind_depth_zero_and_one_not_infinity() {
    let (_srv, u, dav) = setup().await;
    u.put_file("/f/one.txt", "1").await;
    u.put_file("/f/sub/two.txt", "22").await;
    let (status, xml) = dav.propfind("/f/", "0").await;
    assert_eq!(status, 207);
    assert!(!xml.contains("one.txt"), "{xml}");
    let (status, xml) = dav.propfind("/f/", "1").await;
    assert_eq!(status, 207);
    assert!(
        xml.contains("/dav/f/one.txt") && xml.contains("/dav/f/sub/"),
        "{xml}"
    );
    assert!(!xml.contains("two.txt"), "depth 1 stops at children: {xml}");
    assert!(
        xml.contains("<D:getcontentlength>1</D:getcontentlength>"),
        "{xml}"
    );
    let (status, xml) = dav.propfind("/f/", "infinity").await;
    assert_eq!(status, 403);
    assert!(xml.contains("propfind-finite-depth"), "{xml}");
    assert_eq!(dav.propfind("/nothing", "0").await.0, 404);
}

#[tokio::test]
async fn delete_is_the_apis_soft_delete_of_the_whole_folder() {
    let (_srv, u, dav) = setup().await;
    u.put_file("/t/a/b.txt", "b").await;
    u.put_file("/t/c.txt", "c").await;
    let before = changes(&u).await.len();
    assert_eq!(dav.send("DELETE", "/t/").await.status(), 204);
    assert_eq!(entry(&u, "/t").await, None);
    assert_eq!(entry(&u, "/t/a/b.txt").await, None);
    // One change for the folder, standing for its subtree, as the API's delete writes.
    let after = changes(&u).await;
    assert_eq!(after[before..], [("delete".to_string(), "/t".to_string())]);
    assert_eq!(dav.send("DELETE", "/t/").await.status(), 404);
    u.put_file("/f.txt", "f").await;
    assert_eq!(dav.send("DELETE", "/f.txt").await.status(), 204);
    assert_eq!(entry(&u, "/f.txt").await, None);
}

#[tokio::test]
async fn copy_shares_content_and_move_is_the_apis_move() {
    let (_srv, u, dav) = setup().await;
    let src = u.put_file("/a.txt", "content a").await;
    let r = dav.transfer("COPY", "/a.txt", "/b.txt").await;
    assert_eq!(r.status(), 201);
    let copy = entry(&u, "/b.txt").await.unwrap();
    assert_ne!(copy["id"], src["id"]);
    assert_eq!(copy["content_hash"], src["content_hash"]);
    assert_eq!(
        dav.send("GET", "/b.txt").await.text().await.unwrap(),
        "content a"
    );
    // Overwrite: F refuses an existing destination.
    let r = dav
        .req("COPY", "/a.txt")
        .header("Destination", dav.url("/b.txt"))
        .header("Overwrite", "F")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);

    u.put_file("/d/x/y.txt", "y").await;
    let r = dav.transfer("COPY", "/d/", "/e/").await;
    assert_eq!(r.status(), 201);
    assert!(entry(&u, "/e/x/y.txt").await.is_some());
    assert!(entry(&u, "/d/x/y.txt").await.is_some());

    // MOVE is the API's move: the same entries, ids and all, at their new paths.
    let folder_id = entry(&u, "/e").await.unwrap()["id"].clone();
    let file_id = entry(&u, "/e/x/y.txt").await.unwrap()["id"].clone();
    let before = changes(&u).await.len();
    let r = dav.transfer("MOVE", "/e/", "/moved/").await;
    assert_eq!(r.status(), 201);
    assert_eq!(entry(&u, "/e").await, None);
    assert_eq!(entry(&u, "/moved").await.unwrap()["id"], folder_id);
    assert_eq!(entry(&u, "/moved/x/y.txt").await.unwrap()["id"], file_id);
    assert_eq!(
        changes(&u).await[before..],
        [("move".to_string(), "/moved".to_string())]
    );
    let text = dav
        .send("GET", "/moved/x/y.txt")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text, "y");
    // A rename that only changes case (Finder, Explorer) renames; it does not take the
    // source for an existing destination to replace.
    let r = dav
        .transfer("MOVE", "/moved/x/y.txt", "/moved/x/Y.txt")
        .await;
    assert_eq!(r.status(), 201);
    let renamed = entry(&u, "/moved/x/y.txt").await.unwrap();
    assert_eq!(
        (&renamed["name"], &renamed["id"]),
        (&Value::from("Y.txt"), &file_id)
    );
    // Copying onto itself, in any case, is refused and leaves it alone.
    let r = dav
        .transfer("COPY", "/moved/x/Y.txt", "/moved/x/y.TXT")
        .await;
    expect_error(r, 400, "invalid_request").await;
    let text = dav
        .send("GET", "/moved/x/Y.txt")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text, "y");
    // Into itself: refused, nothing changes.
    let r = dav.transfer("MOVE", "/moved/", "/moved/x/in/").await;
    expect_error(r, 400, "invalid_request").await;
    // Onto the folder that holds it: refused, the source is not deleted.
    let r = dav.transfer("MOVE", "/moved/x/", "/moved/").await;
    expect_error(r, 400, "invalid_request").await;
    assert!(entry(&u, "/moved/x/y.txt").await.is_some());
}

#[tokio::test]
async fn names_and_limits_follow_the_api() {
    let srv = TestServer::start_with(|a| a.max_upload_bytes = 1000).await;
    let u = srv.user().await;
    let dav = u.dav().await;
    let long = format!("/{}", "n".repeat(256));
    for bad in ["/a%01b.txt", "/x%7Fy", long.as_str()] {
        let r = dav.put(bad, "x").await;
        expect_error(r, 400, "invalid_request").await;
        let r = dav.send("MKCOL", bad).await;
        expect_error(r, 400, "invalid_request").await;
    }
    u.put_file("/ok.txt", "ok").await;
    let r = dav.transfer("MOVE", "/ok.txt", "/bad%0Aname").await;
    expect_error(r, 400, "invalid_request").await;
    assert!(entry(&u, "/ok.txt").await.is_some());
    assert_eq!(dav.put("/big.bin", vec![0u8; 1001]).await.status(), 413);
    assert_eq!(entry(&u, "/big.bin").await, None);
    assert_eq!(dav.put("/fits.bin", vec![0u8; 1000]).await.status(), 201);
}

#[tokio::test]
async fn a_cut_upload_changes_nothing() {
    let (srv, u, dav) = setup().await;
    u.put_file("/keep.txt", "the old version").await;
    let addr = srv.base.trim_start_matches("http://").to_string();
    let auth = base64_basic(&dav.email, &dav.password);
    let head = format!(
        "PUT /dav/keep.txt HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\
         Content-Length: 100000\r\n\r\n"
    );
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[b'x'; 5000]).await.unwrap();
    // The client goes away mid-body.
    s.shutdown().await.unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply).await;
    drop(s);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let file = entry(&u, "/keep.txt").await.unwrap();
    assert_eq!(file["version"], 1);
    assert_eq!(
        dav.send("GET", "/keep.txt").await.text().await.unwrap(),
        "the old version"
    );
}

fn base64_basic(email: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{email}:{password}"))
}

const LOCK_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>
<D:locktype><D:write/></D:locktype><D:owner>test</D:owner></D:lockinfo>"#;

#[tokio::test]
async fn locks_hold_other_writers_off() {
    let (_srv, u, dav) = setup().await;
    u.put_file("/l.txt", "v1").await;
    let r = dav
        .req("LOCK", "/l.txt")
        .header("Timeout", "Second-60")
        .body(LOCK_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.headers()["lock-token"].to_str().unwrap().to_string();
    assert_eq!(dav.put("/l.txt", "v2").await.status(), 423);
    assert_eq!(dav.send("DELETE", "/l.txt").await.status(), 423);
    let r = dav
        .req("PUT", "/l.txt")
        .header("If", format!("({token})"))
        .body("v2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = dav
        .req("UNLOCK", "/l.txt")
        .header("Lock-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(dav.put("/l.txt", "v3").await.status(), 204);
    assert_eq!(entry(&u, "/l.txt").await.unwrap()["version"], 3);
}

const PROPPATCH: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:dbx-test">
<D:set><D:prop><Z:colour>blue</Z:colour></D:prop></D:set></D:propertyupdate>"#;

#[tokio::test]
async fn dead_properties_are_kept_and_follow_moves() {
    let (_srv, u, dav) = setup().await;
    u.put_file("/p.txt", "p").await;
    let r = dav
        .req("PROPPATCH", "/p.txt")
        .body(PROPPATCH)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 207);
    let (_, xml) = dav.propfind("/p.txt", "0").await;
    assert!(xml.contains("blue"), "{xml}");
    let r = dav.transfer("MOVE", "/p.txt", "/q.txt").await;
    assert_eq!(r.status(), 201);
    let (_, xml) = dav.propfind("/q.txt", "0").await;
    assert!(xml.contains("blue"), "{xml}");
}
