//! share create, list and revoke through the real binary; the links are fetched with
//! plain HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{write, Env};
use predicates::prelude::*;

fn get(env: &Env, url: &str) -> (u16, Vec<u8>) {
    env.block_on(async {
        let r = reqwest::get(url).await.expect("GET the link");
        let status = r.status().as_u16();
        (status, r.bytes().await.expect("body").to_vec())
    })
}

fn stdout_line(out: &std::process::Output) -> String {
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(s.lines().count(), 1, "one line: {s:?}");
    s.trim_end().to_string()
}

#[test]
fn a_share_link_downloads_until_revoked() {
    let env = Env::start();
    env.register("share@example.com");
    write(&env.path("report.pdf"), b"the report");
    env.dbx()
        .args(["push", "report.pdf", "/docs/report.pdf"])
        .assert()
        .success();

    let out = env
        .dbx()
        .args(["share", "create", "/docs/report.pdf", "--expires", "7d"])
        .assert()
        .success();
    let url = stdout_line(out.get_output());
    assert!(url.starts_with(&format!("{}/s/", env.server)), "{url}");
    assert_eq!(get(&env, &url), (200, b"the report".to_vec()));

    let out = env
        .dbx()
        .args(["share", "list", "--json"])
        .assert()
        .success();
    let list: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    let shares = list["shares"].as_array().expect("shares");
    assert_eq!(shares.len(), 1);
    let id = shares[0]["id"].as_str().expect("id").to_string();
    let expires = shares[0]["expires_at"].as_str().expect("expires_at");
    let expires = chrono::DateTime::parse_from_rfc3339(expires).expect("time");
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!((167..=168).contains(&days), "about 7 days: {days} h");

    env.dbx()
        .args(["share", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(&id).and(predicate::str::contains("/docs/report.pdf")));

    env.dbx().args(["share", "revoke", &id]).assert().success();
    assert_eq!(get(&env, &url).0, 404);
    env.dbx()
        .args(["share", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("revoked"));
}

#[test]
fn share_limits_and_refusals() {
    let env = Env::start();
    env.register("limits@example.com");
    write(&env.path("a.txt"), b"a");
    env.dbx()
        .args(["push", "a.txt", "/a.txt"])
        .assert()
        .success();

    let out = env
        .dbx()
        .args([
            "share",
            "create",
            "/a.txt",
            "--max-downloads",
            "1",
            "--expires",
            "2099-01-01T00:00:00Z",
        ])
        .assert()
        .success();
    let url = stdout_line(out.get_output());
    assert_eq!(get(&env, &url).0, 200);
    assert_eq!(get(&env, &url).0, 410);

    env.dbx()
        .args(["share", "create", "/"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("share links are for files"));
    env.dbx()
        .args(["share", "create", "/missing.txt"])
        .assert()
        .code(1)
        .stderr("error: /missing.txt: no such file or folder\n");
    env.dbx()
        .args(["share", "create", "/a.txt", "--expires", "soon"])
        .assert()
        .code(2);
    env.dbx()
        .args([
            "share",
            "create",
            "/a.txt",
            "--expires",
            "2001-01-01T00:00:00Z",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: "));
    env.dbx()
        .args(["share", "revoke", "01900000-0000-7000-8000-000000000000"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: "));
}
