//! Server moves reaching a synced folder through the real binary. Sync does not apply
//! moves natively yet: a `move` from `/delta` must reach the folder as a delete of the old
//! path plus a download of the new one, a folder with everything below it, and must never
//! cost the server a file. Also with `--remote`: folders moved in from outside the synced
//! subtree bring their content, folders moved out leave.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{snapshot, write, Env};

fn sync(env: &Env, args: &[&str]) {
    env.dbx().arg("sync").args(args).assert().success();
}

fn mv(env: &Env, src: &str, dst: &str) {
    env.dbx().args(["mv", src, dst]).assert().success();
}

/// The server's file at `path`: `(version, id)`.
fn remote_file(env: &Env, path: &str) -> (i64, String) {
    let listing = env.ls_json(path);
    let f = &listing["entries"][0];
    assert_eq!(f["path"], path);
    (
        f["version"].as_i64().unwrap(),
        f["id"].as_str().unwrap().to_string(),
    )
}

fn files_of(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    snapshot(root)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".dbx"))
        .filter_map(|(p, c)| c.map(|c| (p, c)))
        .collect()
}

#[test]
fn a_server_move_reaches_the_folder_and_the_server_keeps_everything() {
    let env = Env::start();
    env.register("sync-moves@example.com");
    write(&env.path("dev/docs/a.txt"), b"a");
    write(&env.path("dev/docs/sub/b.txt"), b"b");
    write(&env.path("dev/keep.txt"), b"keep");
    sync(&env, &["dev"]);
    let (_, a_id) = remote_file(&env, "/docs/a.txt");

    mv(&env, "/docs", "/archive/docs2");
    mv(&env, "/keep.txt", "/Keep.txt");
    sync(&env, &["dev"]);
    let expected = vec![
        ("Keep.txt".to_string(), b"keep".to_vec()),
        ("archive/docs2/a.txt".to_string(), b"a".to_vec()),
        ("archive/docs2/sub/b.txt".to_string(), b"b".to_vec()),
    ];
    assert_eq!(files_of(&env.path("dev")), expected);
    assert!(!env.path("dev/docs").exists());

    // Another pass changes nothing; the server still has every file, never re-uploaded.
    sync(&env, &["dev"]);
    assert_eq!(files_of(&env.path("dev")), expected);
    assert_eq!(remote_file(&env, "/archive/docs2/a.txt"), (1, a_id));
    assert_eq!(remote_file(&env, "/archive/docs2/sub/b.txt").0, 1);
    assert_eq!(remote_file(&env, "/Keep.txt").0, 1);
    assert!(env.remote_entry("/docs").is_none());
}

#[test]
fn with_remote_folders_moved_in_bring_their_content_and_moved_out_leave() {
    let env = Env::start();
    env.register("sync-moves-sub@example.com");
    write(&env.path("seed/x/y.txt"), b"y");
    write(&env.path("seed/x/deep/z.txt"), b"z");
    env.dbx()
        .args(["push", "seed", "/outside"])
        .assert()
        .success();
    env.dbx().args(["mkdir", "/proj"]).assert().success();
    sync(&env, &["dev", "--remote", "/proj"]);
    assert!(files_of(&env.path("dev")).is_empty());

    mv(&env, "/outside/x", "/proj/x");
    sync(&env, &["dev", "--remote", "/proj"]);
    assert_eq!(
        files_of(&env.path("dev")),
        vec![
            ("x/deep/z.txt".to_string(), b"z".to_vec()),
            ("x/y.txt".to_string(), b"y".to_vec()),
        ]
    );

    mv(&env, "/proj/x", "/elsewhere");
    sync(&env, &["dev", "--remote", "/proj"]);
    assert!(files_of(&env.path("dev")).is_empty());
    assert_eq!(remote_file(&env, "/elsewhere/y.txt").0, 1);
    assert_eq!(remote_file(&env, "/elsewhere/deep/z.txt").0, 1);
}
