//! Usage errors, unreachable servers and missing paths: exit status and one-line errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use assert_cmd::Command;
use common::{stderr, Env};
use predicates::prelude::*;

fn dbx_alone(config: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("dbx").expect("the dbx binary");
    c.env("DBX_CONFIG_DIR", config).env_remove("DBX_SERVER");
    c
}

#[test]
fn bad_usage_exits_2() {
    let cfg = tempfile::tempdir().expect("dir");
    for args in [
        vec!["frobnicate"],
        vec!["ls", "relative/path"],
        vec!["mkdir"],
        vec!["push"],
        vec!["push", "x", "no-slash"],
        vec!["pull", "no-slash"],
        vec!["rm", "/a/../b"],
        vec!["push", "--transfers", "0", "x", "/x"],
        vec!["share", "create", "/a", "--max-downloads", "0"],
        vec!["--server", "ftp://example.com", "ls"],
        vec!["completions", "tcsh"],
    ] {
        dbx_alone(cfg.path()).args(&args).assert().code(2);
    }
}

#[test]
fn help_shows_flags_and_their_variables() {
    let cfg = tempfile::tempdir().expect("dir");
    dbx_alone(cfg.path())
        .args(["push", "--help"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("DBX_SERVER")
                .and(predicate::str::contains("DBX_CONFIG_DIR"))
                .and(predicate::str::contains("--transfers"))
                .and(predicate::str::contains("DBX_TRANSFERS")),
        );
    dbx_alone(cfg.path())
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("dbx"));
}

#[test]
fn an_unreachable_server_is_named() {
    let cfg = tempfile::tempdir().expect("dir");
    for args in [
        vec!["--server", "http://127.0.0.1:9", "ls"],
        vec!["ls", "--server", "http://127.0.0.1:9", "/"],
        vec!["--server", "http://127.0.0.1:9", "whoami"],
    ] {
        let out = dbx_alone(cfg.path()).args(&args).assert().code(1);
        let err = stderr(out.get_output());
        assert!(
            err.starts_with("error: ") && err.contains("http://127.0.0.1:9"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let out = dbx_alone(cfg.path())
        .env("DBX_SERVER", "http://127.0.0.1:9")
        .args(["login", "--email", "a@example.com", "--password-stdin"])
        .write_stdin("whatever password\n")
        .assert()
        .code(1);
    assert!(stderr(out.get_output()).contains("http://127.0.0.1:9"));
}

#[test]
fn missing_paths_and_not_logged_in() {
    let env = Env::start();
    env.dbx()
        .args(["ls", "/"])
        .assert()
        .code(1)
        .stderr("error: not logged in, run dbx login\n");
    env.register("cli@example.com");
    env.dbx()
        .args(["ls", "/nope"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("error: /nope: no such file or folder\n");
    env.dbx()
        .args(["pull", "/nope"])
        .assert()
        .code(1)
        .stderr("error: /nope: no such file or folder\n");
    env.dbx()
        .args(["push", "does-not-exist", "/x"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: does-not-exist: "));
}
