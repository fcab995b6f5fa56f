//! Ops applied against a real in-process server after the other side moved on since the
//! plan: the checks at apply time must keep every version.

use std::sync::Arc;

use super::*;
use crate::config::ConfigDir;
use crate::sync::scan::hash_file;

struct Fixture {
    api: Arc<Api>,
    state: State,
    dir: tempfile::TempDir,
    _cfg: tempfile::TempDir,
    _data: tempfile::TempDir,
    server: Option<dbx_server::app::RunningServer>,
}

impl Fixture {
    async fn new() -> Fixture {
        let data = tempfile::tempdir().unwrap();
        let args = dbx_server::config::ServeArgs::for_data_dir(data.path().to_path_buf());
        let server = dbx_server::app::start(args).await.unwrap();
        let cfg = tempfile::tempdir().unwrap();
        let config = ConfigDir::new(Some(cfg.path().to_path_buf())).unwrap();
        let api = Api::new(format!("http://{}", server.addr), config, None).unwrap();
        api.register("t@example.com", "correct horse battery")
            .await
            .unwrap();
        api.login("t@example.com", "correct horse battery")
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        Fixture {
            api: Arc::new(api),
            state,
            dir,
            _cfg: cfg,
            _data: data,
            server: Some(server),
        }
    }

    fn applier(&self) -> Applier<'_> {
        Applier {
            api: &self.api,
            state: &self.state,
            root: self.dir.path(),
            remote_root: &ROOT,
            device: "dev",
        }
    }

    /// Writes a local file and returns it as the scan would see it.
    fn write(&self, rel: &str, data: &str) -> FileMeta {
        let p = self.dir.path().join(rel);
        std::fs::write(&p, data).unwrap();
        let m = p.symlink_metadata().unwrap();
        FileMeta {
            hash: hash_file(&p).unwrap(),
            size: m.len(),
            id: None,
            version: None,
            mtime: Some(mtime_of(&m)),
            ckey: Some(crate::sync::scan::change_key(&m)),
        }
    }

    /// Another device writes to the server.
    async fn put(&self, rel: &str, data: &str) -> FileEntry {
        let tmp = self.dir.path().join(".dbx/other");
        std::fs::write(&tmp, data).unwrap();
        let hash = hash_file(&tmp).unwrap();
        let (f, _) = http::upload(
            &self.api,
            &format!("/{rel}"),
            &tmp,
            data.len() as u64,
            &hash,
            &http::Precondition::None,
        )
        .await
        .unwrap();
        f
    }

    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join(rel)).ok()
    }

    fn copies(&self, rel_stem: &str) -> Vec<String> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("{rel_stem} (conflicted copy dev ")))
            .collect()
    }

    async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

static ROOT: std::sync::LazyLock<RemotePath> = std::sync::LazyLock::new(RemotePath::root);

fn outcome_line(o: &Outcome) -> String {
    match o {
        Outcome::Applied(l) => l.clone().unwrap_or_default(),
        Outcome::Skipped(why) => format!("skipped: {why}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_whose_base_version_moved_on_keeps_both_versions() {
    let fx = Fixture::new().await;
    let v1 = fx.put("f.txt", "one").await;
    // The plan: our edit replaces v1. Before it runs, another device writes v2.
    let mine = fx.write("f.txt", "mine");
    let op = Op::Upload {
        path: "f.txt".into(),
        local: mine,
        replaces: Some(remote_meta(&v1)),
    };
    fx.put("f.txt", "theirs").await;
    let out = fx.applier().apply(&op).await.unwrap();
    assert!(outcome_line(&out).starts_with("conflict"), "{out:?}");
    assert_eq!(fx.read("f.txt").as_deref(), Some("theirs"));
    let copies = fx.copies("f");
    assert_eq!(copies.len(), 1);
    assert_eq!(fx.read(&copies[0]).as_deref(), Some("mine"));
    // The copy is on the server too.
    let on_server = fx.api.entry_at(&format!("/{}", copies[0])).await.unwrap();
    assert!(on_server.is_some());
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_never_replaces_a_new_file_that_reuses_the_old_version_number() {
    let fx = Fixture::new().await;
    let v1 = fx.put("f.txt", "one").await;
    let mine = fx.write("f.txt", "mine");
    let op = Op::Upload {
        path: "f.txt".into(),
        local: mine,
        replaces: Some(remote_meta(&v1)),
    };
    // Deleted and made again: a new file, at version 1 again.
    fx.api.delete_entry(&Entry::File(v1.clone())).await.unwrap();
    let again = fx.put("f.txt", "new file").await;
    assert_eq!(again.version, v1.version);
    let out = fx.applier().apply(&op).await.unwrap();
    assert!(outcome_line(&out).starts_with("conflict"), "{out:?}");
    assert_eq!(fx.read("f.txt").as_deref(), Some("new file"));
    assert_eq!(fx.copies("f").len(), 1);
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_does_not_replace_a_local_file_edited_since_the_scan() {
    let fx = Fixture::new().await;
    let theirs = fx.put("f.txt", "theirs").await;
    let seen = fx.write("f.txt", "as scanned");
    let op = Op::Download {
        path: "f.txt".into(),
        remote: remote_meta(&theirs),
        expect_local: Some(seen),
    };
    std::thread::sleep(std::time::Duration::from_millis(20));
    fx.write("f.txt", "edited meanwhile, longer");
    let out = fx.applier().apply(&op).await.unwrap();
    assert!(matches!(out, Outcome::Skipped(_)), "{out:?}");
    assert_eq!(
        fx.read("f.txt").as_deref(),
        Some("edited meanwhile, longer")
    );
    // Nothing was recorded: the next pass sees both changes.
    assert!(fx.state.load(Table::Base).unwrap().get("f.txt").is_none());
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_delete_skips_a_file_changed_on_the_server_since_the_plan() {
    let fx = Fixture::new().await;
    let v1 = fx.put("f.txt", "one").await;
    let op = Op::DeleteRemote {
        path: "f.txt".into(),
        remote: remote_meta(&v1),
    };
    fx.put("f.txt", "two").await;
    let out = fx.applier().apply(&op).await.unwrap();
    assert!(matches!(out, Outcome::Skipped(_)), "{out:?}");
    assert!(fx.api.entry_at("/f.txt").await.unwrap().is_some());
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_file_created_elsewhere_since_the_plan_becomes_a_conflicted_copy() {
    let fx = Fixture::new().await;
    let mine = fx.write("new.txt", "mine");
    let op = Op::Upload {
        path: "new.txt".into(),
        local: mine,
        replaces: None,
    };
    // Another device creates the same path after the plan, before the upload.
    fx.put("new.txt", "theirs").await;
    let out = fx.applier().apply(&op).await.unwrap();
    assert!(outcome_line(&out).starts_with("conflict"), "{out:?}");
    assert_eq!(fx.read("new.txt").as_deref(), Some("theirs"));
    let copies = fx.copies("new");
    assert_eq!(copies.len(), 1);
    assert_eq!(fx.read(&copies[0]).as_deref(), Some("mine"));
    let on_server = fx.api.entry_at(&format!("/{}", copies[0])).await.unwrap();
    assert!(on_server.is_some());
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_folder_delete_keeps_a_file_added_since_the_plan() {
    let fx = Fixture::new().await;
    let f = fx.put("d/x.txt", "x").await;
    let Some(Entry::Folder(d)) = fx.api.entry_at("/d").await.unwrap() else {
        panic!("d is a folder");
    };
    let ops = [
        Op::DeleteRemote {
            path: "d/x.txt".into(),
            remote: remote_meta(&f),
        },
        Op::DeleteRemoteFolder {
            path: "d".into(),
            id: Some(d.id.clone()),
        },
    ];
    // Another device adds a file to the folder after the plan.
    fx.put("d/added.txt", "added").await;
    let a = fx.applier();
    assert!(matches!(
        a.apply(&ops[0]).await.unwrap(),
        Outcome::Applied(_)
    ));
    let out = a.apply(&ops[1]).await.unwrap();
    assert!(matches!(out, Outcome::Skipped(_)), "{out:?}");
    assert!(fx.api.entry_at("/d/added.txt").await.unwrap().is_some());
    assert!(fx.api.entry_at("/d/x.txt").await.unwrap().is_none());
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_file_making_way_for_a_folder_is_deleted_only_after_its_copy_is_up() {
    let fx = Fixture::new().await;
    let f = fx.put("p", "the server's file").await;
    let op = Op::RemoteFileAside {
        path: "p".into(),
        remote: remote_meta(&f),
    };
    let out = fx.applier().apply(&op).await.unwrap();
    assert!(outcome_line(&out).starts_with("conflict"), "{out:?}");
    let copies = fx.copies("p");
    assert_eq!(copies.len(), 1);
    let copy = fx.api.entry_at(&format!("/{}", copies[0])).await.unwrap();
    let Some(Entry::File(copy)) = copy else {
        panic!("the copy is on the server");
    };
    assert_eq!(copy.content_hash, f.content_hash);
    assert!(fx.api.entry_at("/p").await.unwrap().is_none());
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_never_write_through_a_symbolic_link() {
    let fx = Fixture::new().await;
    let f = fx.put("d/x.txt", "x").await;
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), fx.dir.path().join("d")).unwrap();
    let op = Op::Download {
        path: "d/x.txt".into(),
        remote: remote_meta(&f),
        expect_local: None,
    };
    let out = fx.applier().apply(&op).await.unwrap();
    assert!(matches!(out, Outcome::Skipped(_)), "{out:?}");
    assert!(!outside.path().join("x.txt").exists());
    fx.stop().await;
}
