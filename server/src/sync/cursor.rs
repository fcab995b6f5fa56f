//! Opaque delta cursors: the owner and the log position, URL-safe base64. The owner is
//! inside so that a cursor from another account is refused rather than misread.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub fn encode(user_id: &str, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{user_id}:{seq}"))
}

/// The position, if `cursor` is well-formed and belongs to `user_id`.
pub fn decode(cursor: &str, user_id: &str) -> Option<i64> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let rest = raw.strip_prefix("v1:")?;
    let (owner, seq) = rest.rsplit_once(':')?;
    let seq: i64 = seq.parse().ok()?;
    (owner == user_id && seq >= 0).then_some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_foreign_or_malformed() {
        let c = encode("u1", 42);
        assert_eq!(decode(&c, "u1"), Some(42));
        assert_eq!(decode(&c, "u2"), None);
        assert_eq!(decode("not-a-cursor", "u1"), None);
        assert_eq!(decode(&encode("u1", -1), "u1"), None);
    }
}
