//! DESIGN.md invariant 2 under a crash: kill -9 the server in the middle of an upload,
//! restart it, and find the old version intact, no half file visible, and `gc` removing
//! what the cut upload left behind (and the replaced version once it expires).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use reqwest::Client;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_dbx-server");

/// Starts `dbx-server serve` on a free port and returns it with its base URL.
fn serve(data: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env_remove("DBX_BLOB_STORE")
        .env_remove("DBX_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dbx-server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (child, addr.to_string())
}

fn cli(args: &[&str], data: &Path) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("DBX_BLOB_STORE")
        .env_remove("DBX_DATABASE_URL")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn login(client: &Client, base: &str, register: bool) -> String {
    let creds = json!({"email": "crash@example.com", "password": "correct horse"});
    if register {
        let r = client
            .post(format!("{base}/api/v1/auth/register"))
            .json(&creds)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let r: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&creds)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_string()
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn killed_mid_upload_keeps_the_old_version_and_gc_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let client = Client::new();
    let (mut server, base) = serve(data);
    let token = login(&client, &base, true).await;
    let put = |body: reqwest::Body| {
        client
            .put(format!("{base}/api/v1/files/content?path=/doc.txt"))
            .bearer_auth(&token)
            .body(body)
            .send()
    };
    let v1: Value = put("version one".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // A body that sends 3 MiB and then stalls, so the server is mid-upload when killed.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let stalled = tokio::spawn(put(reqwest::Body::wrap_stream(tokio_stream_from(rx))));
    for _ in 0..3 {
        tx.send(Ok(Bytes::from(vec![7u8; 1024 * 1024])))
            .await
            .unwrap();
    }
    let tmp = data.join("blobs").join(".tmp");
    for _ in 0..100 {
        if std::fs::read_dir(&tmp)
            .map(|d| {
                d.flatten()
                    .any(|f| f.metadata().map(|m| m.len() > 0).unwrap_or(false))
            })
            .unwrap_or(false)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(files_in(&tmp), 1, "the cut upload is under way");
    server.kill().unwrap();
    server.wait().unwrap();
    drop(tx);
    let _ = stalled.await;

    let (mut server, base) = serve(data);
    let token = login(&client, &base, false).await;
    let get = |path: String| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
    };
    let id = v1["id"].as_str().unwrap();
    let meta: Value = get(format!("/api/v1/files/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["version"], 1, "the old version is current");
    let body = get(format!("/api/v1/files/{id}/content"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), b"version one");
    let list: Value = get("/api/v1/folders/root/children".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["entries"].as_array().unwrap().len(),
        1,
        "no half file listed"
    );

    // Replace the file: v1 is kept as a version, its blob still referenced.
    let r = client
        .put(format!("{base}/api/v1/files/content?path=/doc.txt"))
        .bearer_auth(&token)
        .body("version two")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.kill().unwrap();
    server.wait().unwrap();

    let (clean, report) = cli(&["check"], data);
    assert!(clean, "the kept version is referenced: {report}");
    let (ok, out) = cli(&["gc", "--dry-run", "--grace-secs", "0"], data);
    assert!(ok);
    assert!(
        out.contains("would remove 0 orphan blobs (0 bytes) and 1 stale uploads"),
        "{out}"
    );
    // Within the grace period nothing is touched.
    let (ok, out) = cli(&["gc"], data);
    assert!(ok);
    assert!(
        out.contains("removed 0 orphan blobs (0 bytes) and 0 stale uploads"),
        "{out}"
    );
    let (ok, out) = cli(&["gc", "--grace-secs", "0"], data);
    assert!(ok);
    assert!(
        out.contains("removed 0 orphan blobs (0 bytes) and 1 stale uploads"),
        "{out}"
    );
    assert_eq!(files_in(&tmp), 0);
    // With no version retention, v1 expires and its blob goes.
    let (ok, out) = cli(
        &["gc", "--grace-secs", "0", "--version-retention", "0"],
        data,
    );
    assert!(ok);
    assert!(
        out.contains("purged 1 expired versions and 0 expired trash items"),
        "{out}"
    );
    assert!(
        out.contains("removed 1 orphan blobs (11 bytes) and 0 stale uploads"),
        "{out}"
    );
    let (clean, report) = cli(&["check"], data);
    assert!(clean, "{report}");

    let (mut server, base) = serve(data);
    let token = login(&client, &base, false).await;
    let body = client
        .get(format!("{base}/api/v1/files/{id}/content"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), b"version two");
    server.kill().unwrap();
    let _ = server.wait();
}

/// A receiver as a stream of body pieces.
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
