//! Hardening that only a whole `dbx-server` process shows: the memory that password
//! hashing takes under a flood of logins, share tokens kept out of the request log, the
//! modes of the files in the data dir, and the checks on the JWT secret file.
//! Backend-specific (SQLite + filesystem store): scripts/test.sh runs it once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::process::{command, ServerProcess};
use reqwest::Client;
use serde_json::{json, Value};

async fn register_and_login(client: &Client, srv: &ServerProcess, email: &str) -> String {
    let creds = json!({"email": email, "password": "correct horse battery"});
    let r = client
        .post(srv.url("/api/v1/auth/register"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r: Value = client
        .post(srv.url("/api/v1/auth/login"))
        .json(&creds)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_string()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_logins_hashes_a_few_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let srv = ServerProcess::start(dir.path(), &[], false);
    let client = Client::new();
    let before = srv.peak_rss_kib();
    // 30 logins at once (the per-address burst): each verification takes argon2id's
    // 19 MiB while it runs. Unbounded that was 30 × 19 MiB at once; one per CPU keeps it
    // to a few.
    let logins: Vec<_> = (0..30)
        .map(|i| {
            let client = client.clone();
            let url = srv.url("/api/v1/auth/login");
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"email": format!("nobody{i}@example.com"), "password": "guess guess"}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for l in logins {
        assert_eq!(l.await.unwrap().unwrap(), 401);
    }
    let peak = srv.peak_rss_kib();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let allowed = before + (cpus + 2) * 20 * 1024 + 64 * 1024;
    assert!(
        peak < allowed,
        "peak RSS {peak} KiB (before the logins {before} KiB, allowed {allowed} KiB)"
    );
}

#[tokio::test]
async fn share_tokens_stay_out_of_the_request_log() {
    let dir = tempfile::tempdir().unwrap();
    let srv = ServerProcess::start(dir.path(), &[], true);
    let client = Client::new();
    let token = register_and_login(&client, &srv, "log@example.com").await;
    let file: Value = client
        .put(srv.url("/api/v1/files/content?path=/a.txt"))
        .bearer_auth(&token)
        .body("shared")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let share: Value = client
        .post(srv.url("/api/v1/shares"))
        .bearer_auth(&token)
        .json(&json!({"file_id": file["id"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = share["token"].as_str().unwrap().to_string();
    let r = client
        .get(srv.url(&format!("/s/{secret}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(srv.url("/s/not-a-real-token-but-still-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let log = srv.kill();
    assert!(log.contains("/s/<redacted>"), "{log}");
    assert!(!log.contains(&secret), "the token is in the log: {log}");
    assert!(!log.contains("not-a-real-token"), "{log}");
    assert!(
        log.contains("/api/v1/shares"),
        "other paths are still logged: {log}"
    );
}

#[tokio::test]
async fn the_data_dir_and_everything_in_it_is_private() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Every file's content in the blob store, even this small one, to see its mode.
    let srv = ServerProcess::start(&data, &["--inline-max-bytes", "0"], false);
    let client = Client::new();
    let token = register_and_login(&client, &srv, "modes@example.com").await;
    let r = client
        .put(srv.url("/api/v1/files/content?path=/d/secret.txt"))
        .bearer_auth(&token)
        .body("for my eyes only")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    drop(srv);

    assert_eq!(mode(&data), 0o700, "data dir");
    assert_eq!(mode(&data.join("jwt-secret")), 0o600, "jwt-secret");
    for f in ["dbx.sqlite", "dbx.sqlite-wal", "dbx.sqlite-shm"] {
        let p = data.join(f);
        if f == "dbx.sqlite" || p.exists() {
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    }
    let mut blobs = 0;
    let mut stack = vec![data.join("blobs")];
    while let Some(d) = stack.pop() {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
        for item in std::fs::read_dir(&d).unwrap() {
            let p = item.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                assert_eq!(mode(&p), 0o600, "{}", p.display());
                blobs += 1;
            }
        }
    }
    assert_eq!(blobs, 1);

    // An existing data dir and database that others could read are tightened.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        data.join("dbx.sqlite"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    drop(ServerProcess::start(&data, &[], false));
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("dbx.sqlite")), 0o600);
}

/// Runs `serve` expecting it to refuse to start; returns its stderr.
fn refused(data: &Path) -> String {
    let out = command(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server started");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("error: "), "{err}");
    last
}

#[tokio::test]
async fn a_jwt_secret_file_others_can_read_or_too_short_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("jwt-secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef0123456789").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = refused(dir.path());
    assert!(err.contains("chmod 600"), "{err}");

    std::fs::write(&secret, "short-secret").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = refused(dir.path());
    assert!(err.contains("at least 32"), "{err}");

    std::fs::write(&secret, "0123456789abcdef0123456789abcdef").unwrap();
    drop(ServerProcess::start(dir.path(), &[], false));
}

#[tokio::test]
async fn user_add_makes_accounts_for_a_closed_server() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let add = |email: &str, password: &str| {
        let mut child = command(dir.path())
            .args(["user", "add", email])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = add("Admin@Example.com", "a fine password\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin@example.com"));
    let out = add("admin@example.com", "another password\n");
    assert_eq!(out.status.code(), Some(1), "taken");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already registered"));
    let out = add("short@example.com", "short\n");
    assert_eq!(out.status.code(), Some(1));
    let out = add("empty@example.com", "");
    assert_eq!(out.status.code(), Some(1));

    let srv = ServerProcess::start(dir.path(), &["--registration", "closed"], false);
    let client = Client::new();
    let r = client
        .post(srv.url("/api/v1/auth/register"))
        .json(&json!({"email": "someone@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client
        .post(srv.url("/api/v1/auth/login"))
        .json(&json!({"email": "admin@example.com", "password": "a fine password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
