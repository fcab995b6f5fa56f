//! `dbx app-password create|list|revoke` through the real binary, the password used for
//! WebDAV with plain HTTP, and a file written through WebDAV reaching a `dbx sync` folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{stderr, Env};
use predicates::prelude::*;

fn dav_status(env: &Env, email: &str, password: &str, method: &str, path: &str, body: &str) -> u16 {
    let url = format!("{}/dav{path}", env.server);
    env.block_on(async {
        reqwest::Client::new()
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .basic_auth(email, Some(password))
            .header("Depth", "0")
            .body(body.to_string())
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    })
}

#[test]
fn create_list_use_and_revoke() {
    let env = Env::start();
    let email = "apps@example.com";
    env.register(email);
    let out = env
        .dbx()
        .args(["app-password", "create", "laptop"])
        .assert()
        .success()
        .stderr(predicate::str::contains("not shown again"));
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(stdout.lines().count(), 1, "just the password: {stdout:?}");
    let password = stdout.trim().to_string();
    assert!(password.len() >= 22, "{password}");
    assert_eq!(dav_status(&env, email, &password, "PROPFIND", "/", ""), 207);

    let out = env
        .dbx()
        .args(["app-password", "list", "--json"])
        .assert()
        .success();
    let list: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let items = list["app_passwords"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "laptop");
    assert!(items[0].get("password").is_none());
    let id = items[0]["id"].as_str().unwrap().to_string();
    env.dbx()
        .args(["app-password", "list"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("NAME")
                .and(predicate::str::contains("laptop"))
                .and(predicate::str::contains(&id))
                .and(predicate::str::contains(&password).not()),
        );

    env.dbx()
        .args(["app-password", "revoke", &id])
        .assert()
        .success();
    assert_eq!(dav_status(&env, email, &password, "PROPFIND", "/", ""), 401);
    let out = env
        .dbx()
        .args(["app-password", "revoke", &id])
        .assert()
        .code(1);
    let err = stderr(out.get_output());
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn refusals() {
    let env = Env::start();
    // Not logged in.
    env.dbx()
        .args(["app-password", "list"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: "));
    env.register("refusals@example.com");
    env.dbx()
        .args(["app-password", "create", " "])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("name"));
    env.dbx()
        .args(["app-password", "create", "phone"])
        .assert()
        .success();
    env.dbx()
        .args(["app-password", "create", "Phone"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already"));
    // Bad usage is exit status 2.
    env.dbx().args(["app-password", "create"]).assert().code(2);
    env.dbx()
        .args(["app-password", "frobnicate"])
        .assert()
        .code(2);
}

#[test]
fn a_file_written_through_webdav_reaches_a_sync_folder() {
    let env = Env::start();
    let email = "davsync@example.com";
    env.register(email);
    let out = env
        .dbx()
        .args(["app-password", "create", "dav"])
        .assert()
        .success();
    let password = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    let local = env.path("synced");
    std::fs::create_dir_all(&local).unwrap();
    env.dbx()
        .args(["sync", local.to_str().unwrap()])
        .assert()
        .success();
    assert_eq!(
        dav_status(&env, email, &password, "MKCOL", "/notes", ""),
        201
    );
    assert_eq!(
        dav_status(
            &env,
            email,
            &password,
            "PUT",
            "/notes/from-dav.txt",
            "written over WebDAV"
        ),
        201
    );
    env.dbx()
        .args(["sync", local.to_str().unwrap()])
        .assert()
        .success();
    let got = std::fs::read_to_string(local.join("notes/from-dav.txt")).expect("synced down");
    assert_eq!(got, "written over WebDAV");
    // And a WebDAV delete removes it from the folder on the next pass.
    assert_eq!(
        dav_status(&env, email, &password, "DELETE", "/notes/from-dav.txt", ""),
        204
    );
    env.dbx()
        .args(["sync", local.to_str().unwrap()])
        .assert()
        .success();
    assert!(!local.join("notes/from-dav.txt").exists());
}
