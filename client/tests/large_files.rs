//! Large files through the real binary: files of 64 MiB and more go through a resumable
//! upload that survives a cut connection, a killed `dbx` and a restarted server, and
//! sends only what the server lacks; content the account already holds is not sent at
//! all. Byte counts come from a TCP proxy between `dbx` and the server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::{data, stderr, write, Env};

const MIB: u64 = 1 << 20;
/// Over the 64 MiB from which uploads are resumable.
const BIG: u64 = 72 * MIB;

/// `dbx ARGS` through `server`, running, for a test to kill.
fn spawn_dbx(env: &Env, server: &str, args: &[&str]) -> Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("dbx"))
        .current_dir(env.work.path())
        .env("DBX_CONFIG_DIR", env.config.path())
        .env("DBX_SERVER", server)
        .env_remove("DBX_TRANSFERS")
        .env_remove("DBX_CHUNK_SIZE")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbx starts")
}

/// Registers (and so logs in) through the proxy: the session is for the proxy's URL,
/// the one every `dbx` of the test uses.
fn register_via(env: &Env, proxy: &Proxy, email: &str) {
    env.dbx()
        .env("DBX_SERVER", &proxy.url)
        .args(["register", "--email", email, "--password-stdin"])
        .write_stdin(format!("{}\n", common::PASSWORD))
        .assert()
        .success();
    proxy.heal();
}

/// Waits until the proxy has cut the upload, then kills `dbx` as a crash would.
fn kill_once_cut(proxy: &Proxy, mut child: Child) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !proxy.is_cut() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "dbx ended before the proxy cut its upload"
        );
        assert!(
            Instant::now() < deadline,
            "the upload never reached the cut"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill dbx");
    child.wait().expect("reap dbx");
}

/// The unfinished uploads `dbx` remembers.
fn remembered(env: &Env) -> Vec<serde_json::Value> {
    match std::fs::read(env.config.path().join("uploads.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes).expect("uploads.json is JSON"),
        Err(_) => Vec::new(),
    }
}

/// The entry of one file, from `dbx ls --json` (a listing of that one entry).
fn entry(env: &Env, proxy: &Proxy, remote: &str) -> serde_json::Value {
    let out = env
        .dbx()
        .env("DBX_SERVER", &proxy.url)
        .args(["ls", "--json", remote])
        .assert()
        .success();
    let listing: serde_json::Value =
        serde_json::from_slice(&out.get_output().stdout).expect("ls --json is JSON");
    listing["entries"][0].clone()
}

fn pulled(env: &Env, proxy: &Proxy, remote: &str) -> Vec<u8> {
    let dest = format!(
        "pulled-{}",
        remote.trim_start_matches('/').replace('/', "-")
    );
    env.dbx()
        .env("DBX_SERVER", &proxy.url)
        .args(["pull", remote, &dest])
        .assert()
        .success();
    std::fs::read(env.path(&dest)).expect("pulled file")
}

#[test]
fn a_push_cut_at_half_resumes_after_a_kill_and_a_server_restart_and_sends_the_rest() {
    let mut env = Env::start();
    let proxy = Proxy::start(&env.server);
    register_via(&env, &proxy, "big@example.com");
    let content = data(BIG as usize, 7);
    write(&env.path("big.bin"), &content);

    proxy.cut_after(BIG / 2);
    let child = spawn_dbx(
        &env,
        &proxy.url,
        &["push", "big.bin", "/big.bin", "--chunk-size", "4MiB"],
    );
    kill_once_cut(&proxy, child);
    let records = remembered(&env);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["path"], "/big.bin");

    env.restart_server();
    proxy.retarget(&env.server);
    proxy.heal();
    let out = env
        .dbx()
        .env("DBX_SERVER", &proxy.url)
        .args(["push", "big.bin", "/big.bin", "--chunk-size", "4MiB"])
        .assert()
        .success();
    let sent = proxy.sent_up();
    assert!(
        sent < BIG * 6 / 10 && sent > BIG * 3 / 10,
        "the resumed push sent {sent} bytes of {BIG}: {}",
        stderr(out.get_output())
    );
    assert!(remembered(&env).is_empty(), "{:?}", remembered(&env));
    assert!(
        pulled(&env, &proxy, "/big.bin") == content,
        "the content differs"
    );
}

#[test]
fn a_large_push_in_one_go_leaves_nothing_to_resume_and_a_second_push_sends_nothing() {
    let env = Env::start();
    let proxy = Proxy::start(&env.server);
    register_via(&env, &proxy, "whole@example.com");
    let content = data(BIG as usize, 8);
    write(&env.path("whole.bin"), &content);

    env.dbx()
        .env("DBX_SERVER", &proxy.url)
        .args(["push", "whole.bin", "/whole.bin"])
        .assert()
        .success();
    assert!(proxy.sent_up() >= BIG);
    assert!(remembered(&env).is_empty());
    assert!(
        pulled(&env, &proxy, "/whole.bin") == content,
        "the content differs"
    );

    proxy.heal();
    env.dbx()
        .env("DBX_SERVER", &proxy.url)
        .args(["push", "whole.bin", "/whole.bin"])
        .assert()
        .success();
    assert!(proxy.sent_up() < MIB, "sent {}", proxy.sent_up());
}

#[test]
fn content_the_account_holds_is_not_sent_again_to_another_path() {
    let env = Env::start();
    let proxy = Proxy::start(&env.server);
    register_via(&env, &proxy, "dedup@example.com");
    let content = data(3 * MIB as usize, 9);
    write(&env.path("photo.jpg"), &content);

    env.dbx()
        .env("DBX_SERVER", &proxy.url)
        .args(["push", "photo.jpg", "/a/photo.jpg"])
        .assert()
        .success();
    assert!(proxy.sent_up() >= 3 * MIB);

    proxy.heal();
    env.dbx()
        .env("DBX_SERVER", &proxy.url)
        .args(["push", "photo.jpg", "/b/copy.jpg"])
        .assert()
        .success();
    assert!(
        proxy.sent_up() < 64 * 1024,
        "a copy of known content sent {} bytes",
        proxy.sent_up()
    );
    let a = entry(&env, &proxy, "/a/photo.jpg");
    let b = entry(&env, &proxy, "/b/copy.jpg");
    assert!(a["content_hash"].is_string(), "{a}");
    assert_eq!(a["content_hash"], b["content_hash"]);
    assert_ne!(a["id"], b["id"]);
    assert!(
        pulled(&env, &proxy, "/b/copy.jpg") == content,
        "the content differs"
    );
}

#[test]
fn a_sync_killed_while_sending_a_large_file_sends_only_the_rest_next_time() {
    let env = Env::start();
    let proxy = Proxy::start(&env.server);
    register_via(&env, &proxy, "syncbig@example.com");
    let content = data(BIG as usize, 10);
    write(&env.path("folder/movie.mkv"), &content);
    let folder = env.path("folder").display().to_string();

    proxy.cut_after(BIG / 2);
    let child = spawn_dbx(
        &env,
        &proxy.url,
        &[
            "sync",
            &folder,
            "--remote",
            "/synced",
            "--chunk-size",
            "8MiB",
        ],
    );
    kill_once_cut(&proxy, child);
    assert_eq!(remembered(&env).len(), 1);

    proxy.heal();
    env.dbx()
        .env("DBX_SERVER", &proxy.url)
        .args(["sync", &folder, "--chunk-size", "8MiB"])
        .assert()
        .success();
    let sent = proxy.sent_up();
    assert!(
        sent < BIG * 6 / 10,
        "the second sync sent {sent} bytes of {BIG}"
    );
    assert!(remembered(&env).is_empty());
    assert!(
        pulled(&env, &proxy, "/synced/movie.mkv") == content,
        "the content differs"
    );
}

#[test]
fn a_chunk_size_that_is_not_a_size_or_too_small_is_bad_usage() {
    let env = Env::start();
    for bad in ["12", "lots", "0", "8GiB"] {
        let out = env
            .dbx()
            .args(["push", "x", "/x", "--chunk-size", bad])
            .assert()
            .code(2);
        let err = stderr(out.get_output());
        assert!(err.contains("--chunk-size"), "{bad}: {err}");
    }
}
