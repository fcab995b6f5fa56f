//! `dbx sync` and `dbx status` end to end: one real dbx-server in this process, and two
//! "devices", each a real `dbx` process with its own config dir and folder, logged in as
//! the same user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::devices::*;

#[test]
fn create_edit_delete_and_nested_folders_reach_the_other_device() {
    let server = Server::start();
    let (a, b) = server.pair();
    a.write("a.txt", "one");
    a.write("docs/x/y.txt", "deep");
    std::fs::create_dir_all(a.path("empty")).unwrap();
    a.sync();
    b.sync();
    assert_eq!(a.tree(), b.tree());
    assert_eq!(b.read("docs/x/y.txt").as_deref(), Some(&b"deep"[..]));
    assert!(b.path("empty").is_dir());

    b.write("a.txt", "two");
    std::fs::remove_file(b.path("docs/x/y.txt")).unwrap();
    b.write("docs/new.txt", "new");
    b.sync();
    a.sync();
    assert_eq!(a.tree(), b.tree());
    assert_eq!(a.read("a.txt").as_deref(), Some(&b"two"[..]));
    assert!(a.read("docs/x/y.txt").is_none());

    std::fs::remove_dir_all(a.path("docs")).unwrap();
    a.sync();
    b.sync();
    assert!(!b.path("docs").exists(), "{:?}", b.names());
    assert_eq!(a.tree(), b.tree());
    // Nothing left to do on either side.
    assert!(a.sync().contains("sync done: 0 changes"));
    assert!(b.sync().contains("sync done: 0 changes"));
}

#[test]
fn both_sides_edited_offline_keep_a_conflicted_copy_on_both() {
    let server = Server::start();
    let (a, b) = server.pair();
    a.write("notes.txt", "base");
    a.sync();
    b.sync();
    a.write("notes.txt", "edited on a");
    b.write("notes.txt", "edited on b, longer");
    a.sync();
    let log = b.sync();
    assert!(log.contains("conflict"), "{log}");
    a.sync();
    // The server's version (a's, synced first) holds the path; b's edit is beside it.
    for d in [&a, &b] {
        assert_eq!(d.read("notes.txt").as_deref(), Some(&b"edited on a"[..]));
        let copies: Vec<_> = d
            .names()
            .into_iter()
            .filter(|n| n.starts_with("notes (conflicted copy dev-b ") && n.ends_with(".txt"))
            .collect();
        assert_eq!(copies.len(), 1, "{:?}", d.names());
        assert_eq!(
            d.read(&copies[0]).as_deref(),
            Some(&b"edited on b, longer"[..])
        );
    }
    assert_eq!(a.tree(), b.tree());
    let status = b.dbx().arg("status").arg(b.root()).assert().success();
    let text = String::from_utf8_lossy(&status.get_output().stdout).into_owned();
    assert!(text.contains("conflicted copies: 1"), "{text}");
}

#[test]
fn an_edit_beats_a_delete_and_new_files_keep_a_deleted_folder() {
    let server = Server::start();
    let (a, b) = server.pair();
    a.write("keep.txt", "v1");
    a.write("gone.txt", "v1");
    a.write("dir/old.txt", "old");
    a.sync();
    b.sync();
    // a deletes keep.txt and the folder; b edits keep.txt and adds a file in the folder.
    std::fs::remove_file(a.path("keep.txt")).unwrap();
    std::fs::remove_dir_all(a.path("dir")).unwrap();
    b.write("keep.txt", "v2 from b");
    b.write("dir/new.txt", "new");
    // And the other way round: a edits gone.txt, b deletes it.
    a.write("gone.txt", "v2 from a");
    std::fs::remove_file(b.path("gone.txt")).unwrap();
    a.sync();
    b.sync();
    a.sync();
    for d in [&a, &b] {
        assert_eq!(
            d.read("keep.txt").as_deref(),
            Some(&b"v2 from b"[..]),
            "{}",
            d.name
        );
        assert_eq!(
            d.read("gone.txt").as_deref(),
            Some(&b"v2 from a"[..]),
            "{}",
            d.name
        );
        assert_eq!(
            d.read("dir/new.txt").as_deref(),
            Some(&b"new"[..]),
            "{}",
            d.name
        );
        assert!(d.read("dir/old.txt").is_none(), "{}", d.name);
    }
    assert_eq!(a.tree(), b.tree());
}

#[test]
fn first_sync_into_a_non_empty_folder_merges() {
    let server = Server::start();
    let (a, b) = server.pair();
    a.write("shared.txt", "from a");
    a.write("only-a.txt", "a");
    a.write("same.txt", "same");
    a.sync();
    b.write("shared.txt", "from b");
    b.write("only-b.txt", "b");
    b.write("same.txt", "same");
    let log = b.sync();
    assert!(!log.contains("deleted"), "{log}");
    a.sync();
    assert_eq!(a.tree(), b.tree());
    let names = a.names();
    assert!(names.contains(&"only-a.txt".to_string()), "{names:?}");
    assert!(names.contains(&"only-b.txt".to_string()), "{names:?}");
    assert_eq!(a.read("shared.txt").as_deref(), Some(&b"from a"[..]));
    let copy = names
        .iter()
        .find(|n| n.starts_with("shared (conflicted copy dev-b "))
        .expect("b's version kept as a conflicted copy");
    assert_eq!(a.read(copy).as_deref(), Some(&b"from b"[..]));
    assert_eq!(names.len(), 5, "{names:?}");
}

#[test]
fn remote_subfolder_syncs_only_that_folder() {
    let server = Server::start();
    let (a, b) = server.pair();
    // Something outside the synced folder, made by a whole-account sync of another dir.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("outside.txt"), "x").unwrap();
    a.dbx().arg("sync").arg(other.path()).assert().success();

    a.write("in.txt", "inside");
    a.dbx()
        .args(["sync", "--remote", "/Work/Projects"])
        .arg(a.root())
        .assert()
        .success();
    b.dbx()
        .args(["sync", "--remote", "/Work/Projects"])
        .arg(b.root())
        .assert()
        .success();
    assert_eq!(b.names(), ["in.txt"]);
    // The folder remembers its remote: a plain sync goes on with it, another is refused.
    b.write("back.txt", "from b");
    b.sync();
    a.sync();
    assert_eq!(a.read("back.txt").as_deref(), Some(&b"from b"[..]));
    a.dbx()
        .args(["sync", "--remote", "/elsewhere"])
        .arg(a.root())
        .assert()
        .code(1);
    // And the whole-account folder sees it below /Work/Projects.
    a.dbx().arg("sync").arg(other.path()).assert().success();
    assert!(other.path().join("Work/Projects/back.txt").is_file());
}

#[test]
fn an_unreachable_server_is_one_error_line() {
    let server = Server::start();
    let (a, _b) = server.pair();
    a.sync();
    drop(server);
    let out = a.dbx().arg("sync").arg(a.root()).assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.starts_with("error: cannot reach the server"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn large_files_sync_and_ignored_files_stay_local() {
    let server = Server::start();
    let (a, b) = server.pair();
    let big: Vec<u8> = (0..6 * 1024 * 1024 + 123)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    a.write("media/big.bin", &big);
    a.write(".dbxignore", "secret/\n*.log\n");
    a.write("secret/key.txt", "private");
    a.write("debug.log", "noise");
    a.write("draft.tmp", "tmp");
    a.write("doc.swp", "swap");
    a.write("~$report.docx", "office lock");
    a.sync();
    b.sync();
    assert_eq!(b.read("media/big.bin").map(|v| v.len()), Some(big.len()));
    assert!(b.read("media/big.bin").unwrap() == big);
    assert_eq!(b.names(), [".dbxignore", "media", "media/big.bin"]);
    // Still there on a, untouched.
    assert_eq!(a.read("secret/key.txt").as_deref(), Some(&b"private"[..]));
    assert_eq!(a.read("draft.tmp").as_deref(), Some(&b"tmp"[..]));
}

#[test]
fn a_pass_that_would_delete_most_files_needs_allow_mass_delete() {
    let server = Server::start();
    let (a, b) = server.pair();
    for i in 0..8 {
        a.write(&format!("f{i}.txt"), format!("{i}"));
    }
    a.sync();
    b.sync();
    for i in 0..7 {
        std::fs::remove_file(a.path(&format!("f{i}.txt"))).unwrap();
    }
    let out = a.dbx().arg("sync").arg(a.root()).assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("--allow-mass-delete"), "{err}");
    b.sync();
    assert_eq!(b.names().len(), 8, "nothing was deleted: {:?}", b.names());
    a.dbx()
        .args(["sync", "--allow-mass-delete"])
        .arg(a.root())
        .assert()
        .success();
    // The guard works both ways: deletes coming from the server need the flag too.
    b.dbx().arg("sync").arg(b.root()).assert().code(1);
    assert_eq!(b.names().len(), 8);
    b.dbx()
        .args(["sync", "--allow-mass-delete"])
        .arg(b.root())
        .assert()
        .success();
    assert_eq!(b.names(), ["f7.txt"]);
}

#[test]
fn status_shows_pending_uploads_and_last_sync() {
    let server = Server::start();
    let (a, _b) = server.pair();
    a.dbx().arg("status").arg(a.root()).assert().code(1);
    a.sync();
    a.write("new.txt", "x");
    let out = a.dbx().arg("status").arg(a.root()).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("pending uploads:   1"), "{text}");
    assert!(text.contains("  new.txt"), "{text}");
    assert!(!text.contains("last sync:  -"), "{text}");
}

#[test]
fn two_watch_daemons_converge_after_a_change_on_either_side() {
    let server = Server::start();
    let (a, b) = server.pair();
    a.write("start.txt", "hello");
    let da = a.watch();
    let db = b.watch();
    eventually("start.txt reaches b", || {
        b.read("start.txt").as_deref() == Some(b"hello")
    });

    b.write("sub/from-b.txt", "from b");
    eventually("from-b.txt reaches a", || {
        a.read("sub/from-b.txt").as_deref() == Some(b"from b")
    });
    a.write("start.txt", "edited on a");
    eventually("the edit reaches b", || {
        b.read("start.txt").as_deref() == Some(b"edited on a")
    });
    std::fs::remove_file(b.path("sub/from-b.txt")).unwrap();
    eventually("the delete reaches a", || {
        !a.path("sub/from-b.txt").exists()
    });
    eventually("both trees agree", || a.tree() == b.tree());
    let log_a = stop(da);
    let log_b = stop(db);
    assert!(log_a.contains("uploaded start.txt"), "{log_a}");
    assert!(log_b.contains("downloaded start.txt"), "{log_b}");
}

#[test]
fn watch_daemons_ride_out_a_server_outage() {
    let mut server = Server::start();
    let (a, b) = server.pair();
    let da = a.watch();
    let db = b.watch();
    a.write("before.txt", "1");
    eventually("before.txt reaches b", || b.read("before.txt").is_some());
    server.outage(|| {
        a.write("during.txt", "written while the server was down");
        std::thread::sleep(Duration::from_secs(3));
    });
    eventually("during.txt reaches b after the outage", || {
        b.read("during.txt").is_some()
    });
    let log_a = stop(da);
    stop(db);
    assert!(log_a.contains("cannot reach the server"), "{log_a}");
}
