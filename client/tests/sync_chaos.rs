//! The chaos test: two devices, each a real `dbx sync` process, random creates, appends,
//! deletes, renames and folder changes on both sides, both syncing at once, and in some
//! rounds one of them killed with SIGKILL at a random moment. Then passes until quiet:
//! both trees must equal each other (and so the server's), and every version a user wrote
//! must still exist unless that user's own device overwrote or deleted it.
//!
//! The seed is printed; replay with `DBX_SYNC_CHAOS_SEED=<seed>`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use common::devices::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const NAMES: &[&str] = &["a.txt", "b.txt", "d/c.txt", "d/e/f.txt", "g/h.txt", "k.txt"];
const FOLDERS: &[&str] = &["d", "d/e", "g"];

/// Regular files below the root, `.dbx` left out.
fn files(d: &Device) -> BTreeMap<String, String> {
    d.tree()
        .into_iter()
        .filter_map(|(p, c)| c.map(|c| (p, String::from_utf8_lossy(&c).into_owned())))
        .collect()
}

struct Ledger {
    written: BTreeSet<String>,
    superseded: HashSet<String>,
    n: u64,
}

fn act(d: &Device, rng: &mut StdRng, ledger: &mut Ledger) {
    let have = files(d);
    let existing: Vec<&String> = have.keys().collect();
    let pick = |rng: &mut StdRng| {
        existing
            .get(rng.random_range(0..existing.len().max(1)))
            .cloned()
    };
    match rng.random_range(0..6) {
        0 | 1 => {
            let rel = NAMES[rng.random_range(0..NAMES.len())];
            let p = d.path(rel);
            if p.parent().is_some_and(|x| x.is_file()) || p.is_dir() {
                return;
            }
            if let Some(old) = have.get(rel) {
                ledger.superseded.insert(old.clone());
            }
            ledger.n += 1;
            let c = format!("{}:{}\n", d.name, ledger.n);
            d.write(rel, &c);
            ledger.written.insert(c);
        }
        2 => {
            if let Some(rel) = pick(rng) {
                ledger.n += 1;
                let c = format!("{}{}:{}\n", have[rel], d.name, ledger.n);
                std::fs::write(d.path(rel), &c).unwrap();
                ledger.superseded.insert(have[rel].clone());
                ledger.written.insert(c);
            }
        }
        3 => {
            if let Some(rel) = pick(rng) {
                std::fs::remove_file(d.path(rel)).unwrap();
                ledger.superseded.insert(have[rel].clone());
            }
        }
        4 => {
            if let Some(rel) = pick(rng) {
                let to = NAMES[rng.random_range(0..NAMES.len())];
                let dest = d.path(to);
                if dest.exists() || dest.parent().is_some_and(|x| x.is_file()) {
                    return;
                }
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::rename(d.path(rel), dest).unwrap();
            }
        }
        _ => {
            let rel = FOLDERS[rng.random_range(0..FOLDERS.len())];
            let p = d.path(rel);
            if p.is_dir() && rng.random_bool(0.5) {
                for (f, c) in &have {
                    if f.starts_with(&format!("{rel}/")) {
                        ledger.superseded.insert(c.clone());
                    }
                }
                std::fs::remove_dir_all(p).unwrap();
            } else if !p.exists() && p.parent().is_none_or(|x| !x.is_file()) {
                let _ = std::fs::create_dir_all(p);
            }
        }
    }
}

fn spawn_sync(d: &Device) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("dbx"))
        .env("DBX_CONFIG_DIR", d.config.path())
        .env("DBX_SERVER", &d.server)
        .env("DBX_DEVICE", &d.name)
        .env("DBX_ALLOW_MASS_DELETE", "true")
        .arg("sync")
        .arg(d.root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn two_devices_with_random_changes_and_kills_converge_and_lose_nothing() {
    let seed: u64 = std::env::var("DBX_SYNC_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("sync chaos seed {seed} (replay with DBX_SYNC_CHAOS_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let server = Server::start();
    let (a, b) = server.pair();
    let mut ledger = Ledger {
        written: BTreeSet::new(),
        superseded: HashSet::new(),
        n: 0,
    };
    let mut kills = 0;
    for _ in 0..10 {
        for d in [&a, &b] {
            for _ in 0..rng.random_range(1..4) {
                act(d, &mut rng, &mut ledger);
            }
        }
        let (mut pa, mut pb) = (spawn_sync(&a), spawn_sync(&b));
        if rng.random_bool(0.4) {
            std::thread::sleep(Duration::from_millis(rng.random_range(0..400)));
            let victim = if rng.random_bool(0.5) {
                &mut pa
            } else {
                &mut pb
            };
            let _ = victim.kill(); // SIGKILL
            kills += 1;
        }
        pa.wait().unwrap();
        pb.wait().unwrap();
    }
    // Quiet: passes, one device after the other, until neither changes anything.
    let quiet = |d: &Device| {
        let out = d
            .dbx()
            .env("DBX_ALLOW_MASS_DELETE", "true")
            .arg("sync")
            .arg(d.root())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "seed {seed}: {err}");
        err.contains("sync done: 0 changes") && !err.contains("left for the next pass")
    };
    let mut settled = false;
    for _ in 0..6 {
        let qa = quiet(&a);
        let qb = quiet(&b);
        if qa && qb {
            settled = true;
            break;
        }
    }
    assert!(settled, "seed {seed}: the devices did not settle");
    let (fa, fb) = (files(&a), files(&b));
    assert_eq!(fa, fb, "seed {seed}: the devices differ");
    let everywhere: Vec<&String> = fa.values().collect();
    for v in &ledger.written {
        let kept = everywhere.iter().any(|c| c.starts_with(v.as_str()));
        assert!(
            kept || ledger.superseded.contains(v),
            "seed {seed}: lost {:?} ({kills} kills)",
            v.trim()
        );
    }
    eprintln!(
        "sync chaos seed {seed}: {} versions, {kills} kills, settled",
        ledger.written.len()
    );
}
