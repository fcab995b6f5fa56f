//! Opaque delta cursors, URL-safe base64 of `v2:<owner>:<database>:<seq>:<tag>`: the
//! owner, so a cursor from another account is refused rather than misread; the database's
//! random identity (made by its first migrations), so a cursor from a replaced database is
//! recognized; the log position; and a tag of the change row at that position, so a
//! restored database whose log has since grown past the position is recognized too.
//! `v1:<owner>:<seq>` cursors, handed out before the identity existed, are still read.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::metadata::{op_name, ChangeRow};

/// A decoded cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub owner: String,
    /// The database it was made by; `None` for a v1 cursor.
    pub database: Option<String>,
    pub seq: i64,
    /// The tag of the change at `seq` (empty at 0); `None` for a v1 cursor.
    pub tag: Option<String>,
}

pub fn encode(owner: &str, database: &str, seq: i64, tag: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v2:{owner}:{database}:{seq}:{tag}"))
}

/// The cursor, if `raw` is well-formed.
pub fn decode(raw: &str) -> Option<Cursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    let parts: Vec<&str> = text.split(':').collect();
    let (owner, database, seq, tag) = match parts.as_slice() {
        ["v1", owner, seq] => (*owner, None, *seq, None),
        ["v2", owner, db, seq, tag] if !db.is_empty() => (*owner, Some(*db), *seq, Some(*tag)),
        _ => return None,
    };
    let seq: i64 = seq.parse().ok()?;
    (!owner.is_empty() && seq >= 0).then(|| Cursor {
        owner: owner.to_string(),
        database: database.map(str::to_string),
        seq,
        tag: tag.map(str::to_string),
    })
}

/// What identifies a change row: a digest of its op and entry, which never change once
/// written. Another history at the same position has another change there.
pub fn tag(change: &ChangeRow) -> String {
    let mut h = Sha256::new();
    h.update(op_name(change.op).as_bytes());
    // The entry parsed and written again, as tags were made before the log's text was sent
    // as it is: a cursor handed out then, over a row written by hand or by an older
    // serializer, keeps its tag.
    let written = change.entry.parse().and_then(|e| serde_json::to_vec(&e));
    h.update(written.unwrap_or_else(|_| change.entry.as_str().as_bytes().to_vec()));
    hex::encode(&h.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_malformed() {
        let c = encode("u1", "db", 42, "abcd");
        assert_eq!(
            decode(&c),
            Some(Cursor {
                owner: "u1".into(),
                database: Some("db".into()),
                seq: 42,
                tag: Some("abcd".into())
            })
        );
        let v1 = URL_SAFE_NO_PAD.encode("v1:u1:7");
        assert_eq!(decode(&v1).map(|c| (c.seq, c.database)), Some((7, None)));
        assert_eq!(decode("not-a-cursor"), None);
        assert_eq!(decode(&encode("u1", "db", -1, "")), None);
        assert_eq!(decode(&encode("u1", "", 1, "")), None);
    }
}
