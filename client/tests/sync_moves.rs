//! Moves and renames through the real binary. A `move` from `/delta` reaches a synced
//! folder as one local rename (files keep their inodes, nothing is downloaded), a rename
//! in a synced folder reaches the server as one move (nothing uploaded), a folder with
//! everything below it. The server's request log (its `tracing` output, captured in this
//! test binary) shows which file contents it served. Also with `--remote`: folders moved
//! in from outside the synced subtree bring their content, folders moved out leave.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, OnceLock};

use common::devices::{Device, Server};
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

/// The inode of a local file.
fn ino(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
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

    let inodes = (
        ino(&env.path("dev/docs/a.txt")),
        ino(&env.path("dev/docs/sub/b.txt")),
        ino(&env.path("dev/keep.txt")),
    );
    mv(&env, "/docs", "/archive/docs2");
    mv(&env, "/keep.txt", "/Keep.txt");
    let out = env.dbx().args(["sync", "dev"]).assert().success();
    let log = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(log.contains("moved docs to archive/docs2 here"), "{log}");
    assert!(!log.contains("downloaded"), "{log}");
    let expected = vec![
        ("Keep.txt".to_string(), b"keep".to_vec()),
        ("archive/docs2/a.txt".to_string(), b"a".to_vec()),
        ("archive/docs2/sub/b.txt".to_string(), b"b".to_vec()),
    ];
    assert_eq!(files_of(&env.path("dev")), expected);
    assert!(!env.path("dev/docs").exists());
    // Renamed, not downloaded again: the same files.
    assert_eq!(
        inodes,
        (
            ino(&env.path("dev/archive/docs2/a.txt")),
            ino(&env.path("dev/archive/docs2/sub/b.txt")),
            ino(&env.path("dev/Keep.txt")),
        )
    );

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

// ---- two devices, and what the server served ------------------------------------------

/// The server's log lines, from every server of this test binary (tests filter by ids).
fn server_log() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(|| {
        struct Sink;
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                server_log().lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
            .with_ansi(false)
            .with_writer(|| Sink)
            .init();
        Mutex::new(Vec::new())
    })
}

/// The request lines the server logged from `from` (a length of the log) on.
fn requests_since(from: usize) -> Vec<String> {
    let log = server_log().lock().unwrap();
    String::from_utf8_lossy(&log[from..])
        .lines()
        .filter(|l| l.contains("request") && l.contains("path="))
        .map(str::to_string)
        .collect()
}

fn log_len() -> usize {
    server_log().lock().unwrap().len()
}

/// An API call as device `d` (its session from its config dir).
fn api_get(d: &Device, route: &str) -> serde_json::Value {
    let creds: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.config.path().join("credentials.json")).unwrap())
            .unwrap();
    let token = creds["access_token"].as_str().unwrap().to_string();
    let url = format!("{}/api/v1{route}", d.server);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

/// Every change from `cursor` on (none: from the beginning).
fn delta(d: &Device, cursor: Option<&str>) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut cursor = cursor.map(str::to_string);
    loop {
        let route = match &cursor {
            Some(c) => format!("/delta?cursor={c}"),
            None => "/delta".to_string(),
        };
        let page = api_get(d, &route);
        out.extend(page["entries"].as_array().unwrap().iter().cloned());
        cursor = Some(page["cursor"].as_str().unwrap().to_string());
        if !page["has_more"].as_bool().unwrap() {
            return out;
        }
    }
}

/// Inodes of the files directly in `dir`, by name.
fn inodes(dir: &std::path::Path) -> BTreeMap<String, u64> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().ino(),
            )
        })
        .collect()
}

#[test]
fn a_folder_of_200_files_renamed_on_one_device_is_one_move_and_one_rename_on_the_other() {
    server_log();
    let server = Server::start();
    let (a, b) = server.pair();
    for i in 0..200 {
        a.write(&format!("photos/p{i:03}.txt"), format!("photo {i}"));
    }
    a.sync();
    let start = log_len();
    b.sync();
    // The ids of the 200 files, and proof that the log shows their downloads.
    let ids: Vec<String> = delta(&b, None)
        .iter()
        .filter(|c| c["entry"]["type"] == "file")
        .map(|c| c["entry"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 200);
    let served = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| {
                ids.iter()
                    .any(|id| l.contains(&format!("/files/{id}/content")))
            })
            .count()
    };
    assert_eq!(
        served(&requests_since(start)),
        200,
        "b's first sync downloads each once"
    );
    let before = inodes(&b.path("photos"));
    assert_eq!(before.len(), 200);
    let cursor = api_get(&b, "/delta/latest")["cursor"]
        .as_str()
        .unwrap()
        .to_string();

    // Renamed on a: one server move, nothing uploaded.
    std::fs::rename(a.path("photos"), a.path("pictures")).unwrap();
    let start = log_len();
    let log = a.sync();
    assert!(
        log.contains("moved photos to pictures on the server"),
        "{log}"
    );
    assert!(!log.contains("uploaded"), "{log}");
    let changes = delta(&b, Some(&cursor));
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["op"], "move");
    assert_eq!(changes[0]["from_path"], "/photos");
    assert_eq!(changes[0]["entry"]["path"], "/pictures");

    // b renames its folder: the same inodes, and the server served none of the files.
    let log = b.sync();
    assert!(log.contains("moved photos to pictures here"), "{log}");
    assert!(!b.path("photos").exists());
    assert_eq!(inodes(&b.path("pictures")), before);
    assert_eq!(served(&requests_since(start)), 0);
    assert_eq!(a.tree(), b.tree());
    // Nothing left to do on either side; the files kept their versions.
    assert!(a.sync().contains("sync done: 0 changes"));
    assert!(b.sync().contains("sync done: 0 changes"));
    let listing = api_get(&b, "/entries?path=/pictures/p007.txt");
    assert_eq!(listing["version"], 1);
}

#[test]
fn concurrent_moves_edits_and_deletes_keep_everything() {
    let server = Server::start();
    let (a, b) = server.pair();
    a.write("docs/edit.txt", "base");
    a.write("gone.txt", "keep me");
    a.write("two.txt", "two");
    a.write("f/x.txt", "x");
    a.write("moveme.txt", "into f");
    a.sync();
    b.sync();

    // a renames; b edits, deletes, and moves the same things elsewhere meanwhile.
    std::fs::rename(a.path("docs"), a.path("papers")).unwrap();
    std::fs::rename(a.path("two.txt"), a.path("two-a.txt")).unwrap();
    std::fs::rename(a.path("gone.txt"), a.path("kept.txt")).unwrap();
    std::fs::rename(a.path("moveme.txt"), a.path("f/moveme.txt")).unwrap();
    b.write("docs/edit.txt", "edited on b");
    std::fs::remove_file(b.path("gone.txt")).unwrap();
    std::fs::rename(b.path("two.txt"), b.path("two-b.txt")).unwrap();
    std::fs::remove_dir_all(b.path("f")).unwrap();
    b.sync();
    a.sync();
    b.sync();
    a.sync();

    for d in [&a, &b] {
        // Moved on a, edited on b: at the new path with b's edit.
        assert_eq!(
            d.read("papers/edit.txt").as_deref(),
            Some(&b"edited on b"[..])
        );
        // Moved on a, deleted on b: it stays, at the new path.
        assert_eq!(d.read("kept.txt").as_deref(), Some(&b"keep me"[..]));
        assert!(d.read("gone.txt").is_none());
        // Moved to two places: the later move on the server wins, no duplicate.
        assert_eq!(d.read("two-a.txt").as_deref(), Some(&b"two"[..]));
        assert!(d.read("two-b.txt").is_none() && d.read("two.txt").is_none());
        // Moved into a folder deleted elsewhere: the folder comes back with it.
        assert_eq!(d.read("f/moveme.txt").as_deref(), Some(&b"into f"[..]));
        assert!(d.read("f/x.txt").is_none());
        assert!(!d.path("docs").exists());
    }
    assert_eq!(a.tree(), b.tree());
}

#[test]
fn an_edit_here_to_a_file_moved_on_the_server_is_kept_at_the_new_path() {
    let server = Server::start();
    let (a, b) = server.pair();
    a.write("notes/today.txt", "base");
    a.sync();
    b.sync();
    let before = ino(&b.path("notes/today.txt"));
    std::fs::rename(a.path("notes"), a.path("journal")).unwrap();
    a.sync();
    // Edited in place on b before b hears of the move.
    std::fs::write(b.path("notes/today.txt"), "edited on b").unwrap();
    let log = b.sync();
    assert!(log.contains("moved notes to journal here"), "{log}");
    assert!(log.contains("uploaded journal/today.txt"), "{log}");
    assert_eq!(ino(&b.path("journal/today.txt")), before);
    a.sync();
    for d in [&a, &b] {
        assert_eq!(
            d.read("journal/today.txt").as_deref(),
            Some(&b"edited on b"[..])
        );
        assert!(!d.path("notes").exists());
    }
    assert_eq!(a.tree(), b.tree());
}
