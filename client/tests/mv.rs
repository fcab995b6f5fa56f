//! `dbx mv SRC DST` through the real binary: rclone `moveto` semantics (DST is the new
//! path, never nested into an existing folder; missing parents made; a taken DST or a
//! missing SRC is an error and changes nothing), case-only renames, and one server-side
//! move that keeps ids, versions and content.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{write, Env};

/// `ls --json` of one path, if it exists: `{"entries": [the file]}`, or a folder's listing.
fn entry(env: &Env, path: &str) -> Option<serde_json::Value> {
    env.remote_entry(path)
}

/// The id of the entry at `path`: a file's own, or, for a folder, what its parent lists.
fn id_of(env: &Env, path: &str) -> String {
    let (parent, name) = path.rsplit_once('/').unwrap();
    let parent = if parent.is_empty() { "/" } else { parent };
    let listing = env.ls_json(parent);
    let found = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{path} not listed"));
    found["id"].as_str().unwrap().to_string()
}

fn mv(env: &Env, src: &str, dst: &str) -> assert_cmd::assert::Assert {
    env.dbx().args(["mv", src, dst]).assert()
}

fn setup(email: &str) -> Env {
    let env = Env::start();
    env.register(email);
    write(&env.path("src/a.txt"), b"a");
    write(&env.path("src/sub/b.txt"), b"b");
    write(&env.path("src/sub/deeper/c.txt"), b"c");
    env.dbx().args(["push", "src", "/docs"]).assert().success();
    env
}

#[test]
fn renames_and_moves_files_and_folders_in_place() {
    let env = setup("mv@example.com");
    let file_id = id_of(&env, "/docs/a.txt");
    let sub_id = id_of(&env, "/docs/sub");

    // A file renamed in its folder, then moved into a folder that does not exist yet.
    mv(&env, "/docs/a.txt", "/docs/renamed.txt")
        .success()
        .stdout("");
    assert_eq!(id_of(&env, "/docs/renamed.txt"), file_id);
    assert!(entry(&env, "/docs/a.txt").is_none());
    mv(&env, "/docs/renamed.txt", "/new/parents/a.txt").success();
    let moved = entry(&env, "/new/parents/a.txt").unwrap()["entries"][0].clone();
    assert_eq!(
        (moved["id"].as_str(), moved["version"].as_i64()),
        (Some(file_id.as_str()), Some(1))
    );

    // A folder with everything in it, to a path under an existing folder: DST is the new
    // path, not a folder to move into.
    mv(&env, "/docs/sub", "/new").code(1);
    mv(&env, "/docs/sub", "/new/sub2").success();
    assert_eq!(id_of(&env, "/new/sub2"), sub_id);
    assert!(entry(&env, "/new/sub2/deeper/c.txt").is_some());
    assert!(entry(&env, "/new/sub2/sub").is_none());
    assert!(entry(&env, "/docs/sub").is_none());
    env.dbx().args(["pull", "/new", "back"]).assert().success();
    assert_eq!(
        std::fs::read(env.path("back/sub2/deeper/c.txt")).unwrap(),
        b"c"
    );
    assert_eq!(std::fs::read(env.path("back/parents/a.txt")).unwrap(), b"a");

    // Only the case changes.
    mv(&env, "/new/sub2", "/new/SUB2").success();
    let listing = env.ls_json("/new");
    let names: Vec<&str> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["parents", "SUB2"]);
    // The same path: nothing to do, not an error.
    mv(&env, "/new/SUB2", "/new/SUB2").success();
    mv(&env, "/new/SUB2/b.txt", "/b.txt").success();
    assert!(entry(&env, "/b.txt").is_some());
}

#[test]
fn refusals_change_nothing() {
    let env = setup("mv-refused@example.com");
    write(&env.path("other.txt"), b"o");
    env.dbx()
        .args(["push", "other.txt", "/docs/other.txt"])
        .assert()
        .success();
    let before = env.ls_json("/docs");

    let refused = [
        (
            ["mv", "/nope", "/x"],
            "error: /nope: no such file or folder\n",
        ),
        (
            ["mv", "/docs/a.txt", "/docs/other.txt"],
            "error: /docs/other.txt already exists\n",
        ),
        (
            ["mv", "/docs/a.txt", "/docs/OTHER.TXT"],
            "error: /docs/OTHER.TXT already exists\n",
        ),
        (
            ["mv", "/docs/a.txt", "/docs/sub"],
            "error: /docs/sub already exists\n",
        ),
        (
            ["mv", "/docs", "/docs/sub/x"],
            "error: cannot move /docs into itself\n",
        ),
        (
            ["mv", "/", "/x"],
            "error: the root folder cannot be moved\n",
        ),
        (["mv", "/docs/a.txt", "/"], "error: / already exists\n"),
        (
            ["mv", "/docs/sub", "/docs/a.txt/x"],
            "error: /docs/a.txt is a file, not a folder\n",
        ),
    ];
    for (args, message) in refused {
        env.dbx()
            .args(args)
            .assert()
            .code(1)
            .stdout("")
            .stderr(message);
    }
    env.dbx().args(["mv", "/docs"]).assert().code(2);
    env.dbx().args(["mv", "docs", "/x"]).assert().code(2);
    assert_eq!(env.ls_json("/docs"), before);
    assert!(entry(&env, "/x").is_none());
    let help = env.dbx().args(["mv", "--help"]).assert().success();
    let help = String::from_utf8_lossy(&help.get_output().stdout).into_owned();
    assert!(help.contains("SRC") && help.contains("DST"), "{help}");
}
