//! push and pull of files and trees through the real binary: round trips, skips, and
//! The README's path semantics (the second path is the path the first one gets).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{data, snapshot, stderr, write, Env};
use predicates::prelude::*;

/// A tree with nested and empty folders, a 0-byte file, a file of several MiB, and
/// names with spaces and non-ASCII characters.
fn make_tree(env: &Env, root: &str) {
    let r = env.path(root);
    write(&r.join("top.txt"), b"top\n");
    write(&r.join("empty file"), b"");
    write(&r.join("a/b/c/deep.bin"), &data(1000, 1));
    write(&r.join("a/big.bin"), &data(9 * 1024 * 1024 + 123, 2));
    write(
        &r.join("naïve café/日本語 ファイル.txt"),
        "こんにちは".as_bytes(),
    );
    write(&r.join("with space/and more.txt"), b"spaces");
    std::fs::create_dir_all(r.join("empty folder")).expect("mkdir");
    std::fs::create_dir_all(r.join("a/b/empty inside")).expect("mkdir");
}

/// Each file's version under `path`, by way of `ls --json`.
fn versions(env: &Env, path: &str, out: &mut Vec<(String, i64)>) {
    let listing = env.ls_json(path);
    for e in listing["entries"].as_array().expect("entries") {
        let p = e["path"].as_str().expect("path").to_string();
        if e["type"] == "folder" {
            versions(env, &p, out);
        } else {
            out.push((p, e["version"].as_i64().expect("version")));
        }
    }
}

#[test]
fn a_tree_round_trips_byte_for_byte_and_a_second_push_sends_nothing() {
    let env = Env::start();
    env.register("tree@example.com");
    make_tree(&env, "src");

    let out = env
        .dbx()
        .args(["push", "src", "/backup"])
        .assert()
        .success();
    let err = stderr(out.get_output());
    assert!(err.contains("pushed 6 files"), "{err}");
    assert!(err.contains(", 0 skipped"), "{err}");

    env.dbx()
        .args(["pull", "/backup", "copy"])
        .assert()
        .success();
    assert_eq!(snapshot(&env.path("src")), snapshot(&env.path("copy")));
    assert!(env.path("copy/empty folder").is_dir());
    assert!(env.path("copy/a/b/empty inside").is_dir());

    let mut before = Vec::new();
    versions(&env, "/backup", &mut before);
    assert_eq!(before.len(), 6);
    let out = env
        .dbx()
        .args(["push", "src", "/backup"])
        .assert()
        .success();
    let err = stderr(out.get_output());
    assert!(
        err.contains("pushed 0 files (0 B)") && err.contains(", 6 skipped"),
        "{err}"
    );
    let mut after = Vec::new();
    versions(&env, "/backup", &mut after);
    assert_eq!(before, after, "no new versions");
    assert!(after.iter().all(|(_, v)| *v == 1));

    // A pull onto an identical tree fetches nothing either.
    let out = env
        .dbx()
        .args(["pull", "/backup", "copy"])
        .assert()
        .success();
    assert!(stderr(out.get_output()).contains("pulled 0 files (0 B)"));

    // A changed file is sent again, and only it.
    write(&env.path("src/a/b/c/deep.bin"), b"changed");
    let out = env
        .dbx()
        .args(["-q", "push", "src", "/backup"])
        .assert()
        .success();
    assert_eq!(stderr(out.get_output()), "", "-q prints nothing");
    let mut changed = Vec::new();
    versions(&env, "/backup", &mut changed);
    let bumped: Vec<_> = changed.iter().filter(|(_, v)| *v == 2).collect();
    assert_eq!(bumped, [&("/backup/a/b/c/deep.bin".to_string(), 2)]);
    env.dbx()
        .args(["pull", "--transfers", "1", "/backup", "copy"])
        .assert()
        .success();
    assert_eq!(snapshot(&env.path("src")), snapshot(&env.path("copy")));
}

#[test]
fn push_puts_the_folder_at_remote_even_when_it_exists() {
    let env = Env::start();
    env.register("paths@example.com");
    write(&env.path("photos/a.jpg"), b"a");
    write(&env.path("photos/sub/b.jpg"), b"b");

    env.dbx()
        .args(["push", "./photos", "/backup/photos"])
        .assert()
        .success();
    env.dbx()
        .args(["ls", "/backup/photos"])
        .assert()
        .success()
        .stdout("sub/\na.jpg\n");
    // Again, now that /backup/photos exists: the same place, not /backup/photos/photos.
    write(&env.path("photos/c.jpg"), b"c");
    env.dbx()
        .args(["push", "./photos", "/backup/photos"])
        .assert()
        .success();
    env.dbx()
        .args(["ls", "/backup/photos"])
        .assert()
        .success()
        .stdout("sub/\na.jpg\nc.jpg\n");

    // REMOTE defaults to /<basename of LOCAL>, also with a trailing slash.
    env.dbx().args(["push", "photos/"]).assert().success();
    env.dbx()
        .args(["ls", "/photos/sub"])
        .assert()
        .success()
        .stdout("b.jpg\n");

    // A single file: REMOTE is the file's own path.
    env.dbx()
        .args(["push", "photos/a.jpg", "/x/renamed.jpg"])
        .assert()
        .success();
    env.dbx()
        .args(["ls", "/x"])
        .assert()
        .success()
        .stdout("renamed.jpg\n");
    env.dbx().args(["push", "photos/a.jpg"]).assert().success();
    env.dbx()
        .args(["ls", "/a.jpg"])
        .assert()
        .success()
        .stdout("a.jpg\n");
    // ...and a folder there is refused rather than filled.
    env.dbx()
        .args(["push", "photos/a.jpg", "/backup"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/backup is a folder"));
    // A folder cannot take the place of a file.
    env.dbx()
        .args(["push", "photos", "/x/renamed.jpg"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is a file"));
}

#[test]
fn pull_fills_local_even_when_it_exists() {
    let env = Env::start();
    env.register("pulls@example.com");
    write(&env.path("photos/a.jpg"), b"a");
    write(&env.path("photos/sub/b.jpg"), b"b");
    env.dbx()
        .args(["push", "photos", "/backup/photos"])
        .assert()
        .success();

    env.dbx()
        .args(["pull", "/backup/photos", "./restored"])
        .assert()
        .success();
    assert_eq!(std::fs::read(env.path("restored/a.jpg")).expect("a"), b"a");
    assert_eq!(
        std::fs::read(env.path("restored/sub/b.jpg")).expect("b"),
        b"b"
    );
    // Again into the existing folder: filled, never nested.
    env.dbx()
        .args(["pull", "/backup/photos", "./restored"])
        .assert()
        .success();
    assert!(!env.path("restored/photos").exists());

    // LOCAL defaults to ./<basename of REMOTE>.
    let elsewhere = tempfile::tempdir().expect("dir");
    env.dbx()
        .current_dir(elsewhere.path())
        .args(["pull", "/backup/photos"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read(elsewhere.path().join("photos/sub/b.jpg")).expect("b"),
        b"b"
    );

    // A single file: LOCAL is the file's own path, parents made as needed.
    env.dbx()
        .args(["pull", "/backup/photos/a.jpg", "out/deeper/c.jpg"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read(env.path("out/deeper/c.jpg")).expect("c"),
        b"a"
    );
    env.dbx()
        .current_dir(elsewhere.path())
        .args(["pull", "/backup/photos/sub/b.jpg"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read(elsewhere.path().join("b.jpg")).expect("b"),
        b"b"
    );
    // No temporary files are left behind.
    let leftovers: Vec<_> = snapshot(env.work.path())
        .into_iter()
        .filter(|(p, _)| p.contains(".dbx-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Pulling the root needs a LOCAL: bad usage.
    env.dbx().args(["pull", "/"]).assert().code(2);
    env.dbx()
        .args(["pull", "/", "everything"])
        .assert()
        .success();
    assert!(env.path("everything/backup/photos/sub/b.jpg").is_file());
}

#[test]
fn mkdir_ls_and_rm() {
    let env = Env::start();
    env.register("fs@example.com");
    env.dbx().args(["mkdir", "/a/b/c"]).assert().success();
    env.dbx().args(["mkdir", "/a/b"]).assert().success();
    write(&env.path("f.txt"), b"12345");
    env.dbx()
        .args(["push", "f.txt", "/a/f.txt"])
        .assert()
        .success();

    env.dbx()
        .args(["ls", "/a"])
        .assert()
        .success()
        .stdout("b/\nf.txt\n");
    let long = env.dbx().args(["ls", "-l", "/a"]).assert().success();
    let long = String::from_utf8_lossy(&long.get_output().stdout).into_owned();
    assert!(
        long.lines()
            .any(|l| l.starts_with('-') && l.contains(" 5 ") && l.ends_with("f.txt")),
        "{long}"
    );
    let file = env.ls_json("/a/f.txt");
    assert_eq!(file["entries"][0]["type"], "file");
    assert_eq!(file["entries"][0]["size"], 5);
    assert_eq!(env.ls_json("/")["entries"][0]["path"], "/a");

    env.dbx().args(["rm", "/a/f.txt"]).assert().success();
    env.dbx().args(["rm", "/a/b"]).assert().success();
    env.dbx().args(["ls", "/a"]).assert().success().stdout("");
    env.dbx()
        .args(["rm", "/a/b"])
        .assert()
        .code(1)
        .stderr("error: /a/b: no such file or folder\n");
    env.dbx().args(["mkdir", "/a/f.txt"]).assert().success();
    write(&env.path("g.txt"), b"g");
    env.dbx()
        .args(["push", "g.txt", "/g.txt"])
        .assert()
        .success();
    env.dbx()
        .args(["mkdir", "/g.txt/sub"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/g.txt is a file"));
}

#[test]
fn ls_follows_pagination() {
    let env = Env::start();
    env.register("many@example.com");
    for i in 0..1005 {
        write(&env.path(&format!("many/f{i:04}")), b"");
    }
    env.dbx()
        .args(["push", "--transfers", "8", "many", "/many"])
        .assert()
        .success();
    let listing = env.ls_json("/many");
    assert_eq!(listing["entries"].as_array().map(Vec::len), Some(1005));
}

#[test]
fn pull_never_writes_through_a_symlink_in_the_target() {
    let env = Env::start();
    env.register("links@example.com");
    write(&env.path("src/sub/secret.txt"), b"from the server");
    write(&env.path("src/top.txt"), b"top");
    env.dbx().args(["push", "src", "/src"]).assert().success();

    // restored/sub is a link to a folder outside the target.
    let outside = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(env.path("restored")).expect("mkdir");
    std::os::unix::fs::symlink(outside.path(), env.path("restored/sub")).expect("symlink");
    let out = env
        .dbx()
        .args(["pull", "/src", "restored"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err = stderr(&out);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(
        err.lines().last().is_some_and(|l| l.starts_with("error: ")),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(outside.path()).expect("read").count(),
        0,
        "nothing written outside"
    );
    // The rest of the tree still arrived.
    assert_eq!(
        std::fs::read(env.path("restored/top.txt")).expect("top"),
        b"top"
    );

    // A link where a file goes is replaced, never followed.
    let target = outside.path().join("victim.txt");
    std::fs::write(&target, b"untouched").expect("write");
    std::fs::create_dir_all(env.path("again")).expect("mkdir");
    std::os::unix::fs::symlink(&target, env.path("again/top.txt")).expect("symlink");
    env.dbx().args(["pull", "/src", "again"]).assert().success();
    assert_eq!(std::fs::read(&target).expect("victim"), b"untouched");
    assert_eq!(
        std::fs::read(env.path("again/top.txt")).expect("top"),
        b"top"
    );
    assert!(!env.path("again/top.txt").is_symlink());
}
