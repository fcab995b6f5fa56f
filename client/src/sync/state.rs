//! A synced folder's own state, in SQLite at `LOCAL_DIR/.dbx/state.sqlite` (never
//! synced): the merge base (what both sides last agreed on, per path), a mirror of the
//! server's tree below the remote root kept up to date from the delta feed, the delta
//! cursor, settings such as the device name, and the deletions of the last hour (for the
//! mass-delete guard). A delta page and the cursor after it commit together, so a crash
//! never skips or half-applies a page.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::planner::{FileMeta, Node, Snapshot};

/// The folder inside a synced folder that holds its state; never synced.
pub const STATE_DIR: &str = ".dbx";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS base (
    path TEXT PRIMARY KEY, kind TEXT NOT NULL, id TEXT, version INTEGER,
    hash TEXT, size INTEGER, mtime INTEGER);
CREATE TABLE IF NOT EXISTS remote (
    path TEXT PRIMARY KEY, kind TEXT NOT NULL, id TEXT, version INTEGER,
    hash TEXT, size INTEGER, mtime INTEGER);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conflicts (
    path TEXT PRIMARY KEY, original TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deletions (at INTEGER NOT NULL, path TEXT NOT NULL);
";

/// Columns added after the first release, made on open when missing.
const ADDED_COLUMNS: &[(&str, &str)] = &[("base", "ckey"), ("remote", "ckey")];

/// Which of the two path-keyed tables.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    /// The merge base.
    Base,
    /// The mirror of the server's tree.
    Remote,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Base => "base",
            Table::Remote => "remote",
        }
    }
}

/// An open state database.
pub struct State {
    conn: Connection,
    dir: PathBuf,
}

impl State {
    /// Opens (or creates) the state of the synced folder `root`.
    pub fn open(root: &Path) -> anyhow::Result<State> {
        let dir = root.join(STATE_DIR);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let file = dir.join("state.sqlite");
        let conn =
            Connection::open(&file).with_context(|| format!("opening {}", file.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(SCHEMA)
            .with_context(|| format!("setting up {}", file.display()))?;
        for (table, column) in ADDED_COLUMNS {
            let has: bool = conn.query_row(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1)"
                ),
                [column],
                |r| r.get(0),
            )?;
            if !has {
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} TEXT"))?;
            }
        }
        Ok(State { conn, dir })
    }

    /// Opens the state only if the folder has been synced before.
    pub fn open_existing(root: &Path) -> anyhow::Result<Option<State>> {
        if root.join(STATE_DIR).join("state.sqlite").is_file() {
            State::open(root).map(Some)
        } else {
            Ok(None)
        }
    }

    /// `.dbx` inside the synced folder (temporary downloads go below it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn load(&self, table: Table) -> anyhow::Result<Snapshot> {
        let sql = format!(
            "SELECT path, kind, id, version, hash, size, mtime, ckey FROM {}",
            table.name()
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], |r| {
            let path: String = r.get(0)?;
            let kind: String = r.get(1)?;
            let id: Option<String> = r.get(2)?;
            let node = if kind == "folder" {
                Node::Folder { id, ino: r.get(7)? }
            } else {
                Node::File(FileMeta {
                    id,
                    version: r.get(3)?,
                    hash: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    size: r.get::<_, Option<i64>>(5)?.unwrap_or(0).max(0) as u64,
                    mtime: r.get(6)?,
                    ckey: r.get(7)?,
                })
            };
            Ok((path, node))
        })?;
        let mut snap = Snapshot::default();
        for row in rows {
            let (path, node) = row?;
            snap.insert(path, node);
        }
        Ok(snap)
    }

    pub fn put(&self, table: Table, path: &str, node: &Node) -> anyhow::Result<()> {
        put(&self.conn, table, path, node)
    }

    pub fn delete(&self, table: Table, path: &str) -> anyhow::Result<()> {
        let sql = format!("DELETE FROM {} WHERE path = ?1", table.name());
        self.conn.execute(&sql, [path])?;
        Ok(())
    }

    /// Moves the base rows of `from` and everything below it to `to` (a move applied on
    /// one side: the base follows it), replacing whatever the base had there.
    pub fn move_base(&self, from: &str, to: &str) -> anyhow::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        move_tree(&tx, Table::Base, from, to)?;
        Ok(tx.commit()?)
    }

    /// Starts a transaction for a batch of mirror changes (one delta page).
    pub fn batch(&mut self) -> anyhow::Result<Batch<'_>> {
        Ok(Batch {
            tx: self.conn.transaction()?,
        })
    }

    pub fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set(&self, key: &str, value: &str) -> anyhow::Result<()> {
        set(&self.conn, key, value)
    }

    /// Forgets the mirror and the cursor, so the next pass reads the server afresh.
    pub fn reset_remote(&self) -> anyhow::Result<()> {
        self.conn
            .execute_batch("DELETE FROM remote; DELETE FROM meta WHERE key = 'cursor';")?;
        Ok(())
    }

    /// Forgets everything known about the server, the merge base included: the server's
    /// history is not the one the base was made with (restored or replaced database,
    /// another account), so the next pass merges both sides as a first sync does and
    /// nothing is taken for deleted.
    pub fn forget_server(&self) -> anyhow::Result<()> {
        self.conn.execute_batch(
            "BEGIN; DELETE FROM remote; DELETE FROM base; DELETE FROM deletions; \
             DELETE FROM meta WHERE key IN ('cursor', 'window_start', 'window_files'); COMMIT;",
        )?;
        Ok(())
    }

    /// Notes a deletion applied now (either side), for the mass-delete guard.
    pub fn note_deletion(&self, path: &str, at: i64) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT INTO deletions (at, path) VALUES (?1, ?2)",
            params![at, path],
        )?;
        Ok(())
    }

    /// Deletions applied at or after `since`.
    pub fn deletions_since(&self, since: i64) -> anyhow::Result<usize> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM deletions WHERE at >= ?1",
            [since],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as usize)
    }

    /// Forgets deletions before `before`.
    pub fn prune_deletions(&self, before: i64) -> anyhow::Result<()> {
        self.conn
            .execute("DELETE FROM deletions WHERE at < ?1", [before])?;
        Ok(())
    }

    /// Remembers a conflicted copy made here, for `dbx status`.
    pub fn add_conflict(&self, copy: &str, original: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO conflicts (path, original, at) VALUES (?1, ?2, ?3)",
            params![copy, original, chrono::Utc::now().to_rfc3339()],
        )?;
        Ok(())
    }

    /// Conflicted copies made here: (copy, original, when).
    pub fn conflicts(&self) -> anyhow::Result<Vec<(String, String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, original, at FROM conflicts ORDER BY at, path")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Mirror changes and the cursor after them, committed together.
pub struct Batch<'a> {
    tx: Transaction<'a>,
}

impl Batch<'_> {
    pub fn put(&self, path: &str, node: &Node) -> anyhow::Result<()> {
        put(&self.tx, Table::Remote, path, node)
    }

    /// Removes `path` and everything below it from the mirror.
    pub fn remove_tree(&self, path: &str) -> anyhow::Result<()> {
        remove_tree(&self.tx, Table::Remote, path)
    }

    /// Moves `from` and everything below it to `to` (neither empty, neither below the
    /// other: the server refuses such moves), replacing whatever the mirror had there.
    pub fn move_tree(&self, from: &str, to: &str) -> anyhow::Result<()> {
        move_tree(&self.tx, Table::Remote, from, to)
    }

    /// Removes the file at `path` if it is the one with `id`.
    pub fn remove_file(&self, path: &str, id: &str) -> anyhow::Result<()> {
        self.tx.execute(
            "DELETE FROM remote WHERE path = ?1 AND (id = ?2 OR id IS NULL)",
            params![path, id],
        )?;
        Ok(())
    }

    pub fn set(&self, key: &str, value: &str) -> anyhow::Result<()> {
        set(&self.tx, key, value)
    }

    pub fn commit(self) -> anyhow::Result<()> {
        Ok(self.tx.commit()?)
    }
}

/// Removes `path` and everything below it from `table`.
fn remove_tree(conn: &Connection, table: Table, path: &str) -> anyhow::Result<()> {
    if path.is_empty() {
        conn.execute(&format!("DELETE FROM {}", table.name()), [])?;
        return Ok(());
    }
    // '0' follows '/': the range is exactly the paths below `path`.
    conn.execute(
        &format!(
            "DELETE FROM {} WHERE path = ?1 OR (path >= ?2 AND path < ?3)",
            table.name()
        ),
        params![path, format!("{path}/"), format!("{path}0")],
    )?;
    Ok(())
}

/// Moves `from` and everything below it to `to` in `table`, replacing what was there.
fn move_tree(conn: &Connection, table: Table, from: &str, to: &str) -> anyhow::Result<()> {
    use super::snapshot::at_or_below;
    if from.is_empty() || to.is_empty() || at_or_below(to, from) || at_or_below(from, to) {
        return Ok(());
    }
    remove_tree(conn, table, to)?;
    conn.execute(
        &format!(
            "UPDATE {} SET path = ?2 || substr(path, ?3) \
             WHERE path = ?1 OR (path >= ?4 AND path < ?5)",
            table.name()
        ),
        params![
            from,
            to,
            from.chars().count() as i64 + 1,
            format!("{from}/"),
            format!("{from}0")
        ],
    )?;
    Ok(())
}

fn put(conn: &Connection, table: Table, path: &str, node: &Node) -> anyhow::Result<()> {
    let sql = format!(
        "INSERT OR REPLACE INTO {} (path, kind, id, version, hash, size, mtime, ckey) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        table.name()
    );
    match node {
        Node::Folder { id, ino } => conn.execute(
            &sql,
            params![
                path,
                "folder",
                id,
                None::<i64>,
                None::<String>,
                None::<i64>,
                None::<i64>,
                ino
            ],
        )?,
        Node::File(f) => conn.execute(
            &sql,
            params![
                path,
                "file",
                f.id,
                f.version,
                f.hash,
                i64::try_from(f.size).unwrap_or(i64::MAX),
                f.mtime,
                f.ckey
            ],
        )?,
    };
    Ok(())
}

fn set(conn: &Connection, key: &str, value: &str) -> anyhow::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![key, value],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(hash: &str) -> Node {
        Node::File(FileMeta {
            hash: hash.into(),
            size: 3,
            id: Some("i".into()),
            version: Some(2),
            mtime: Some(123_456_789_012),
            ckey: Some("1:2".into()),
        })
    }

    #[test]
    fn base_round_trips_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Node::Folder {
            id: None,
            ino: Some("7:1".into()),
        };
        {
            let st = State::open(dir.path()).unwrap();
            st.put(Table::Base, "a/b.txt", &file("h")).unwrap();
            st.put(Table::Base, "a", &folder).unwrap();
            st.set("cursor", "c1").unwrap();
        }
        let st = State::open_existing(dir.path()).unwrap().unwrap();
        let base = st.load(Table::Base).unwrap();
        assert_eq!(base.get("a/b.txt"), Some(&file("h")));
        assert_eq!(base.get("a"), Some(&folder));
        assert_eq!(st.get("cursor").unwrap().as_deref(), Some("c1"));
        st.delete(Table::Base, "a").unwrap();
        assert_eq!(st.load(Table::Base).unwrap().entries.len(), 1);
        assert!(st.load(Table::Remote).unwrap().entries.is_empty());
    }

    #[test]
    fn batch_removes_a_subtree_and_commits_with_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = State::open(dir.path()).unwrap();
        for p in ["d", "d/x", "d/e/y", "d0", "dz", "e"] {
            st.put(Table::Remote, p, &file(p)).unwrap();
        }
        let b = st.batch().unwrap();
        b.remove_tree("d").unwrap();
        b.remove_file("e", "other").unwrap();
        b.set("cursor", "c2").unwrap();
        b.commit().unwrap();
        let keys: Vec<_> = st
            .load(Table::Remote)
            .unwrap()
            .entries
            .into_keys()
            .collect();
        assert_eq!(keys, ["d0", "dz", "e"]);
        assert_eq!(st.get("cursor").unwrap().as_deref(), Some("c2"));
    }

    #[test]
    fn batch_moves_a_subtree() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = State::open(dir.path()).unwrap();
        for p in ["d", "d/x", "d/é/y", "d0", "n/old"] {
            st.put(Table::Remote, p, &file(p)).unwrap();
        }
        let b = st.batch().unwrap();
        b.move_tree("d", "n").unwrap();
        b.commit().unwrap();
        let remote = st.load(Table::Remote).unwrap();
        let keys: Vec<_> = remote.entries.keys().map(String::as_str).collect();
        assert_eq!(keys, ["d0", "n", "n/x", "n/é/y"]);
        assert_eq!(remote.get("n/é/y"), Some(&file("d/é/y")));
    }

    #[test]
    fn the_base_moves_a_subtree_with_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let st = State::open(dir.path()).unwrap();
        for p in ["d", "d/x", "d/é/y", "d0", "n/old"] {
            st.put(Table::Base, p, &file(p)).unwrap();
        }
        st.move_base("d", "n").unwrap();
        // Below itself or onto itself: nothing moves.
        st.move_base("n", "n/x/deeper").unwrap();
        st.move_base("n/x", "n").unwrap();
        let base = st.load(Table::Base).unwrap();
        let keys: Vec<_> = base.entries.keys().map(String::as_str).collect();
        assert_eq!(keys, ["d0", "n", "n/x", "n/é/y"]);
        assert_eq!(base.get("n/é/y"), Some(&file("d/é/y")));
        assert!(st.load(Table::Remote).unwrap().entries.is_empty());
    }

    #[test]
    fn conflicts_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let st = State::open(dir.path()).unwrap();
        st.add_conflict("a (conflicted copy x 1).txt", "a.txt")
            .unwrap();
        let c = st.conflicts().unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].1, "a.txt");
    }
}
