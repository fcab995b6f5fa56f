//! register, login, whoami, logout and the token refresh, through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{stderr, Env, PASSWORD};
use predicates::prelude::*;

#[test]
fn register_login_whoami_and_private_credentials() {
    let env = Env::start();
    env.register("alice@example.com");
    env.login("alice@example.com");
    env.dbx()
        .arg("whoami")
        .assert()
        .success()
        .stdout(whoami("alice@example.com"));

    let mode = std::fs::metadata(env.credentials_path())
        .expect("credentials exist")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "credentials mode {mode:o}");
    // Login remembered the server: without DBX_SERVER it is still found.
    env.dbx()
        .env_remove("DBX_SERVER")
        .arg("whoami")
        .assert()
        .success()
        .stdout(whoami("alice@example.com"));
}

#[test]
fn a_wrong_password_is_one_clear_line_and_exit_1() {
    let env = Env::start();
    env.register("bob@example.com");
    let out = env
        .dbx()
        .args(["login", "--email", "bob@example.com", "--password-stdin"])
        .write_stdin("not the password\n")
        .assert()
        .code(1)
        .stdout("")
        .get_output()
        .clone();
    assert_eq!(stderr(&out), "error: wrong e-mail or password\n");
}

#[test]
fn register_twice_is_a_conflict() {
    let env = Env::start();
    env.register("carol@example.com");
    env.dbx()
        .args([
            "register",
            "--email",
            "carol@example.com",
            "--password-stdin",
        ])
        .write_stdin(format!("{PASSWORD}\n"))
        .assert()
        .code(1)
        .stderr(
            predicate::str::starts_with("error: ").and(predicate::str::contains("\n").count(1)),
        );
}

#[test]
fn logout_revokes_the_refresh_token_and_deletes_credentials() {
    let env = Env::start();
    env.register("dave@example.com");
    let refresh = env.credentials()["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    env.dbx().arg("logout").assert().success();
    assert!(!env.credentials_path().exists());

    let status = env.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/api/v1/auth/refresh", env.server))
            .json(&serde_json::json!({ "refresh_token": refresh }))
            .send()
            .await
            .expect("refresh request")
            .status()
    });
    assert_eq!(status, 401, "the old refresh token must be dead");

    env.dbx()
        .arg("whoami")
        .assert()
        .code(1)
        .stderr("error: not logged in, run dbx login\n");
}

#[test]
fn an_expired_access_token_is_refreshed_transparently() {
    let env = Env::start_with(|a| a.access_token_ttl = 1);
    env.register("erin@example.com");
    let first = env.credentials();

    std::thread::sleep(Duration::from_millis(2100));
    env.dbx().args(["mkdir", "/a/b"]).assert().success();
    let second = env.credentials();
    assert_ne!(
        first["refresh_token"], second["refresh_token"],
        "rotated and saved"
    );

    std::thread::sleep(Duration::from_millis(2100));
    std::fs::create_dir_all(env.path("up/sub")).expect("mkdir");
    std::fs::write(env.path("up/sub/x.txt"), b"x").expect("write");
    std::fs::write(env.path("up/y.txt"), b"y").expect("write");
    env.dbx().args(["push", "up", "/up"]).assert().success();

    std::thread::sleep(Duration::from_millis(2100));
    env.dbx()
        .args(["ls", "/up/sub"])
        .assert()
        .success()
        .stdout("x.txt\n");
}

#[test]
fn a_rejected_access_token_is_refreshed_after_the_401() {
    let env = Env::start();
    env.register("frank@example.com");
    // A token the server refuses although our clock says it is still good.
    let mut c = env.credentials();
    c["access_token"] = "not-a-jwt".into();
    env.set_credentials(&c);
    env.dbx()
        .arg("whoami")
        .assert()
        .success()
        .stdout(whoami("frank@example.com"));
    assert_ne!(env.credentials()["access_token"], "not-a-jwt");
}

#[test]
fn a_dead_refresh_token_says_to_log_in() {
    let env = Env::start();
    env.register("gina@example.com");
    let mut c = env.credentials();
    c["access_token"] = "not-a-jwt".into();
    c["refresh_token"] = "not-a-token".into();
    env.set_credentials(&c);
    env.dbx()
        .args(["ls", "/"])
        .assert()
        .code(1)
        .stderr("error: not logged in, run dbx login\n");
}

#[test]
fn credentials_for_another_server_are_not_sent() {
    let env = Env::start();
    let other = Env::start();
    env.register("hal@example.com");
    // Same config dir, other server: not logged in there.
    env.dbx()
        .env("DBX_SERVER", &other.server)
        .arg("whoami")
        .assert()
        .code(1)
        .stderr("error: not logged in, run dbx login\n");
    // The flag wins over the variable.
    env.dbx()
        .env("DBX_SERVER", &other.server)
        .args(["--server", &env.server, "whoami"])
        .assert()
        .success()
        .stdout(whoami("hal@example.com"));
}

/// What `dbx whoami` prints for an account of the test server (no quota, nothing stored).
fn whoami(email: &str) -> String {
    format!("{email}\nusage: 0 B (no quota)\n")
}
