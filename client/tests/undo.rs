//! `dbx versions`, `dbx restore`, `dbx trash ls|restore|purge` and `dbx whoami`'s usage
//! line end to end through the real binary; and a restore reaching a second synced
//! folder through /delta like any other change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{stderr, write, Env, PASSWORD};
use serde_json::Value;

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dbx push` of `content` to `remote`, through a file in the work dir.
fn push(env: &Env, remote: &str, content: &[u8]) {
    let local = env.path("upload.tmp");
    write(&local, content);
    env.dbx()
        .args(["push", "upload.tmp", remote])
        .assert()
        .success();
    std::fs::remove_file(local).unwrap();
}

fn pull(env: &Env, remote: &str) -> Vec<u8> {
    let local = env.path("download.tmp");
    let _ = std::fs::remove_file(&local);
    env.dbx()
        .args(["pull", remote, "download.tmp"])
        .assert()
        .success();
    std::fs::read(local).unwrap()
}

fn trash_json(env: &Env) -> Vec<Value> {
    let out = env.dbx().args(["trash", "ls", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    json_of(&out)["entries"].as_array().unwrap().clone()
}

#[test]
fn versions_are_listed_and_restored() {
    let env = Env::start();
    env.register("versions@example.com");
    push(&env, "/notes.txt", b"first draft");
    push(&env, "/notes.txt", b"second draft, longer");

    let out = env
        .dbx()
        .args(["versions", "/notes.txt", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let versions = json_of(&out)["versions"].as_array().unwrap().clone();
    let numbers: Vec<i64> = versions
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![2, 1]);
    assert_eq!(versions[1]["size"], 11);

    let out = env.dbx().args(["versions", "/notes.txt"]).output().unwrap();
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("VERSION"), "{table}");
    assert!(
        lines[1].starts_with('2') && lines[1].ends_with("current"),
        "{table}"
    );
    assert!(
        lines[2].starts_with('1') && !lines[2].contains("current"),
        "{table}"
    );

    env.dbx()
        .args(["restore", "/notes.txt", "--version", "1"])
        .assert()
        .success()
        .stderr("restored /notes.txt to version 1, now version 3\n");
    assert_eq!(pull(&env, "/notes.txt"), b"first draft");

    // Clear errors, exit 1; bad usage exits 2.
    let out = env
        .dbx()
        .args(["restore", "/notes.txt", "--version", "9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: /notes.txt: no such version"),
        "{}",
        stderr(&out)
    );
    let out = env
        .dbx()
        .args(["versions", "/missing.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: /missing.txt: no such file or folder\n"
    );
    env.dbx().args(["restore", "/notes.txt"]).assert().code(2);
    env.dbx()
        .args(["restore", "/notes.txt", "--version", "0"])
        .assert()
        .code(2);
}

#[test]
fn trash_ls_restore_and_purge() {
    let env = Env::start();
    env.register("trash@example.com");
    push(&env, "/docs/a.txt", b"aaa");
    push(&env, "/docs/sub/b.txt", b"bbbb");
    push(&env, "/c.txt", b"cc");
    env.dbx().args(["rm", "/c.txt"]).assert().success();
    env.dbx().args(["rm", "/docs"]).assert().success();

    let items = trash_json(&env);
    let shown: Vec<(&str, &str, u64)> = items
        .iter()
        .map(|t| {
            (
                t["path"].as_str().unwrap(),
                t["type"].as_str().unwrap(),
                t["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(shown, vec![("/docs", "folder", 7), ("/c.txt", "file", 2)]);
    let out = env.dbx().args(["trash", "ls"]).output().unwrap();
    let table = stdout(&out);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.lines().nth(1).unwrap().ends_with("/docs"), "{table}");

    // By path: back where it was, with everything deleted with it.
    env.dbx()
        .args(["trash", "restore", "/docs"])
        .assert()
        .success()
        .stderr("restored /docs to /docs\n");
    assert_eq!(pull(&env, "/docs/sub/b.txt"), b"bbbb");
    // By id, somewhere else: missing parents are made.
    let c_id = trash_json(&env)[0]["id"].as_str().unwrap().to_string();
    env.dbx()
        .args(["trash", "restore", &c_id, "--to", "/archive/2026/c-old.txt"])
        .assert()
        .success();
    assert_eq!(pull(&env, "/archive/2026/c-old.txt"), b"cc");
    assert!(trash_json(&env).is_empty());
    let out = env
        .dbx()
        .args(["trash", "restore", "/c.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: /c.txt: not in the trash (see dbx trash ls)\n"
    );
    // A taken name is refused and nothing changes.
    env.dbx().args(["rm", "/docs/a.txt"]).assert().success();
    push(&env, "/docs/a.txt", b"new a");
    let out = env
        .dbx()
        .args(["trash", "restore", "/docs/a.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: /docs/a.txt: "),
        "{}",
        stderr(&out)
    );
    assert_eq!(trash_json(&env).len(), 1);

    // Purge asks on a terminal; without one it wants --yes, and purges nothing.
    let out = env
        .dbx()
        .args(["trash", "purge", "/docs/a.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert_eq!(trash_json(&env).len(), 1);
    env.dbx()
        .args(["trash", "purge", "/docs/a.txt", "--yes"])
        .assert()
        .success();
    assert!(trash_json(&env).is_empty());
    env.dbx().args(["rm", "/archive"]).assert().success();
    env.dbx().args(["rm", "/docs"]).assert().success();
    assert_eq!(trash_json(&env).len(), 2);
    env.dbx().args(["trash", "purge", "--all"]).assert().code(2);
    env.dbx().args(["trash", "purge"]).assert().code(2);
    env.dbx()
        .args(["trash", "purge", "--all", "--yes"])
        .assert()
        .success();
    assert!(trash_json(&env).is_empty());
}

#[test]
fn whoami_shows_usage_and_quota() {
    let env = Env::start_with(|a| a.quota_bytes = Some(10 * 1024));
    env.register("quota@example.com");
    push(&env, "/a.bin", &[7u8; 3 * 1024]);
    env.dbx()
        .arg("whoami")
        .assert()
        .success()
        .stdout("quota@example.com\nusage: 3.0 KiB of 10.0 KiB quota\n");
    // Over the quota: a clear error.
    let big = env.path("big.bin");
    write(&big, &[1u8; 8 * 1024]);
    let out = env
        .dbx()
        .args(["push", "big.bin", "/big.bin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("quota"), "{}", stderr(&out));

    let env = Env::start();
    env.register("free@example.com");
    env.dbx()
        .arg("whoami")
        .assert()
        .success()
        .stdout("free@example.com\nusage: 0 B (no quota)\n");
}

/// A second device: its own config dir and sync folder, logged in as the same user.
struct Device {
    config: tempfile::TempDir,
    folder: tempfile::TempDir,
}

impl Device {
    fn new(env: &Env, email: &str) -> Device {
        let d = Device {
            config: tempfile::tempdir().unwrap(),
            folder: tempfile::tempdir().unwrap(),
        };
        d.dbx(env)
            .args(["login", "--email", email, "--password-stdin"])
            .write_stdin(format!("{PASSWORD}\n"))
            .assert()
            .success();
        d
    }

    fn dbx(&self, env: &Env) -> assert_cmd::Command {
        let mut c = env.dbx();
        c.env("DBX_CONFIG_DIR", self.config.path());
        c
    }

    fn sync(&self, env: &Env) {
        let out = self
            .dbx(env)
            .arg("sync")
            .arg(self.folder.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "sync: {}", stderr(&out));
    }

    fn read(&self, rel: &str) -> Option<Vec<u8>> {
        std::fs::read(self.folder.path().join(rel)).ok()
    }
}

#[test]
fn restores_reach_another_synced_folder_through_delta() {
    let env = Env::start();
    let email = "devices@example.com";
    env.register(email);
    let (a, b) = (Device::new(&env, email), Device::new(&env, email));
    write(&a.folder.path().join("plan.txt"), b"the good plan");
    write(&a.folder.path().join("keep/kept.txt"), b"kept");
    a.sync(&env);
    b.sync(&env);
    assert_eq!(b.read("plan.txt").as_deref(), Some(&b"the good plan"[..]));

    // Overwritten on A, seen on B; restored from the history, seen on B again.
    write(&a.folder.path().join("plan.txt"), b"a worse plan");
    a.sync(&env);
    b.sync(&env);
    assert_eq!(b.read("plan.txt").as_deref(), Some(&b"a worse plan"[..]));
    env.dbx()
        .args(["restore", "/plan.txt", "--version", "1"])
        .assert()
        .success();
    b.sync(&env);
    assert_eq!(b.read("plan.txt").as_deref(), Some(&b"the good plan"[..]));

    // Deleted on A, gone on B; restored from the trash, back on B.
    std::fs::remove_file(a.folder.path().join("keep/kept.txt")).unwrap();
    a.sync(&env);
    b.sync(&env);
    assert_eq!(b.read("keep/kept.txt"), None);
    env.dbx()
        .args(["trash", "restore", "/keep/kept.txt"])
        .assert()
        .success();
    b.sync(&env);
    assert_eq!(b.read("keep/kept.txt").as_deref(), Some(&b"kept"[..]));
    a.sync(&env);
    assert_eq!(a.read("keep/kept.txt").as_deref(), Some(&b"kept"[..]));
    assert_eq!(a.read("plan.txt").as_deref(), Some(&b"the good plan"[..]));
}
