//! Refresh-token sessions, written once over [`TokenStore`]: rotation with reuse
//! detection, and an absolute session lifetime.
//!
//! A login starts a family; each rotation retires the presented token and adds its
//! successor to the family. A retired token presented again means two parties hold the
//! family (a stolen token, or a stolen successor): the whole family is revoked, so
//! whoever holds it is logged out, the owner once, the thief for good. A replay within a
//! few seconds of its rotation is more likely the client's own race (two refreshes at
//! once from one client): it is refused like any used token (API.md: the old token stops
//! working), but the session lives on, so the winner's token keeps working.

use chrono::{DateTime, Duration, Utc};

use super::RepoResult;

/// How refresh tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Lifetime of each token from its issue.
    pub ttl: Duration,
    /// Lifetime of a session from its login, however often it is refreshed.
    pub session_lifetime: Duration,
    /// How long after a rotation the rotated token may be presented again without
    /// revoking its family (it is refused either way).
    pub reuse_grace: Duration,
}

impl RefreshPolicy {
    /// When a token issued `now` in a session begun at `started` expires.
    pub fn expiry(&self, started: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        (now + self.ttl).min(started + self.session_lifetime)
    }
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was live: it is retired, and the new token is its successor.
    Rotated { user_id: String },
    /// It was rotated moments ago: refused, but its session lives on.
    Stale { user_id: String },
    /// It was rotated before the grace: the whole family is now revoked.
    ReuseDetected { user_id: String },
    /// Unknown, expired, logged out, revoked, or past the session's lifetime.
    Refused,
}

impl Rotation {
    /// The owner, when a new token was issued.
    pub fn issued_to(&self) -> Option<&str> {
        match self {
            Rotation::Rotated { user_id } => Some(user_id),
            _ => None,
        }
    }
}

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub user_id: String,
    pub family_id: String,
    pub session_started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub rotated_at: Option<DateTime<Utc>>,
}

/// The statements sessions need, inside one transaction.
pub(crate) trait TokenStore {
    /// The token with this hash, locked against concurrent rotation until commit.
    fn token_for_update(&mut self, token_hash: &str) -> RepoResult<Option<StoredToken>>;
    /// Whether the family holds a token that is neither retired nor expired.
    fn family_live(&mut self, family_id: &str, now: DateTime<Utc>) -> RepoResult<bool>;
    fn insert_token(&mut self, token_hash: &str, token: &StoredToken) -> RepoResult<()>;
    /// Retires a live token; `rotated` marks it as replaced by a successor.
    fn retire_token(
        &mut self,
        token_hash: &str,
        now: DateTime<Utc>,
        rotated: bool,
    ) -> RepoResult<()>;
    /// Retires every live token of the family; returns how many.
    fn retire_family(&mut self, family_id: &str, now: DateTime<Utc>) -> RepoResult<u64>;
}

/// Starts a session: `token_hash` heads a new family.
pub(crate) fn start(
    s: &mut impl TokenStore,
    user_id: &str,
    token_hash: &str,
    policy: &RefreshPolicy,
    now: DateTime<Utc>,
) -> RepoResult<()> {
    let token = StoredToken {
        user_id: user_id.to_string(),
        family_id: token_hash.to_string(),
        session_started_at: now,
        expires_at: policy.expiry(now, now),
        retired_at: None,
        rotated_at: None,
    };
    s.insert_token(token_hash, &token)
}

/// Presents `old_hash`; issues `new_hash` when the rules allow.
pub(crate) fn rotate(
    s: &mut impl TokenStore,
    old_hash: &str,
    new_hash: &str,
    policy: &RefreshPolicy,
    now: DateTime<Utc>,
) -> RepoResult<Rotation> {
    let Some(old) = s.token_for_update(old_hash)? else {
        return Ok(Rotation::Refused);
    };
    if now >= old.session_started_at + policy.session_lifetime {
        return Ok(Rotation::Refused);
    }
    let user_id = old.user_id.clone();
    match (old.retired_at, old.rotated_at) {
        (None, _) if old.expires_at > now => {
            let successor = StoredToken {
                expires_at: policy.expiry(old.session_started_at, now),
                ..old.clone()
            };
            s.retire_token(old_hash, now, true)?;
            s.insert_token(new_hash, &successor)?;
            Ok(Rotation::Rotated { user_id })
        }
        (Some(_), Some(rotated)) if s.family_live(&old.family_id, now)? => {
            if now - rotated < policy.reuse_grace {
                Ok(Rotation::Stale { user_id })
            } else {
                s.retire_family(&old.family_id, now)?;
                Ok(Rotation::ReuseDetected { user_id })
            }
        }
        _ => Ok(Rotation::Refused),
    }
}

/// Ends the session `token_hash` belongs to, if it is `user_id`'s; true when a live token
/// was retired.
pub(crate) fn end(
    s: &mut impl TokenStore,
    user_id: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> RepoResult<bool> {
    match s.token_for_update(token_hash)? {
        Some(t) if t.user_id == user_id => Ok(s.retire_family(&t.family_id, now)? > 0),
        _ => Ok(false),
    }
}
