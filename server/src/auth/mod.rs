//! Accounts and sessions: register, login, refresh-token rotation, logout, and checking
//! the bearer token of every other call.

pub mod password;
pub mod throttle;
pub mod tokens;

use std::net::IpAddr;
use std::time::Duration;

use chrono::Utc;
use dbx_shared::api::{TokenReply, User};

use crate::error::{AppError, AppResult};
use crate::metadata::{Db, UserRow};
use throttle::Throttle;
use tokens::{random_token, token_hash, JwtKeys};

pub struct Auth {
    db: Db,
    keys: JwtKeys,
    access_ttl: Duration,
    refresh_ttl: Duration,
    by_account: Throttle<String>,
    by_addr: Throttle<IpAddr>,
}

const BAD_CREDENTIALS: &str = "wrong e-mail or password";

impl UserRow {
    pub fn to_api(&self) -> User {
        User {
            id: self.id.clone(),
            email: self.email.clone(),
            created_at: self.created_at,
        }
    }
}

/// Trims and lower-cases an e-mail and checks its shape.
pub fn normalize_email(email: &str) -> AppResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(AppError::bad_request("that is not a valid e-mail address"))
    }
}

fn check_password_shape(password: &str) -> AppResult<()> {
    let n = password.chars().count();
    if (8..=1024).contains(&n) {
        Ok(())
    } else {
        Err(AppError::bad_request(
            "a password must be 8 to 1024 characters long",
        ))
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    Ok(tokio::task::spawn_blocking(f).await?)
}

impl Auth {
    pub fn new(db: Db, secret: &[u8], access_ttl: Duration, refresh_ttl: Duration) -> Self {
        Auth {
            db,
            keys: JwtKeys::new(secret),
            access_ttl,
            refresh_ttl,
            // Ten guesses at once per account, then one every six seconds: a password
            // cannot be tried at line speed, and a mistyping person is rarely slowed.
            by_account: Throttle::new(10, Duration::from_secs(6)),
            by_addr: Throttle::new(30, Duration::from_secs(2)),
        }
    }

    pub async fn register(&self, email: &str, password: &str) -> AppResult<UserRow> {
        let email = normalize_email(email)?;
        check_password_shape(password)?;
        let password = password.to_string();
        let phc = blocking(move || password::hash(&password))
            .await?
            .map_err(AppError::internal)?;
        Ok(self
            .db
            .run(move |r| r.create_user(&email, &phc, Utc::now()))
            .await?)
    }

    pub async fn login(
        &self,
        email: &str,
        password: &str,
        addr: Option<IpAddr>,
    ) -> AppResult<TokenReply> {
        let email = email.trim().to_lowercase();
        if let Some(ip) = addr {
            self.by_addr.check(&ip).map_err(|s| AppError::RateLimited {
                retry_after_secs: s,
            })?;
        }
        // Keyed on the e-mail as typed, whether or not it exists, so the limit itself
        // reveals nothing about which accounts exist.
        self.by_account
            .check(&email)
            .map_err(|s| AppError::RateLimited {
                retry_after_secs: s,
            })?;
        let lookup = email.clone();
        let user = self.db.run(move |r| r.user_by_email(&lookup)).await?;
        let password = password.to_string();
        let phc = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| password::dummy_hash().to_string());
        let ok = blocking(move || password::verify(&password, &phc)).await?;
        match user {
            Some(user) if ok => self.issue(user).await,
            _ => Err(AppError::Unauthorized(BAD_CREDENTIALS.into())),
        }
    }

    pub async fn refresh(&self, refresh_token: &str) -> AppResult<TokenReply> {
        let old = token_hash(refresh_token);
        let new = random_token().map_err(AppError::internal)?;
        let new_hash = token_hash(&new);
        let expires = Utc::now() + self.refresh_ttl;
        let owner = self
            .db
            .run(move |r| r.rotate_refresh_token(&old, &new_hash, expires, Utc::now()))
            .await?
            .ok_or_else(|| AppError::Unauthorized("the refresh token is not valid".into()))?;
        let user = self
            .db
            .run(move |r| r.user_by_id(&owner))
            .await?
            .ok_or_else(|| AppError::Unauthorized("the refresh token is not valid".into()))?;
        self.reply(user, new)
    }

    /// Retires one of the caller's refresh tokens. Idempotent: a token that is already
    /// dead (or unknown) is fine, since the caller's aim is met either way.
    pub async fn logout(&self, user_id: &str, refresh_token: &str) -> AppResult<()> {
        let (user, hash) = (user_id.to_string(), token_hash(refresh_token));
        self.db
            .run(move |r| r.revoke_refresh_token(&user, &hash, Utc::now()))
            .await?;
        Ok(())
    }

    /// The user id behind an `Authorization` header value.
    pub fn authenticate(&self, header: Option<&str>) -> AppResult<String> {
        let token = header
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .ok_or_else(|| AppError::Unauthorized("a Bearer access token is required".into()))?;
        self.keys
            .verify(token.trim())
            .ok_or_else(|| AppError::Unauthorized("the access token is invalid or expired".into()))
    }

    pub async fn user(&self, user_id: &str) -> AppResult<Option<UserRow>> {
        let id = user_id.to_string();
        Ok(self.db.run(move |r| r.user_by_id(&id)).await?)
    }

    /// Forgets rate-limit state that has fully refilled.
    pub fn shrink_throttles(&self) {
        self.by_account.shrink();
        self.by_addr.shrink();
    }

    async fn issue(&self, user: UserRow) -> AppResult<TokenReply> {
        let token = random_token().map_err(AppError::internal)?;
        let hash = token_hash(&token);
        let expires = Utc::now() + self.refresh_ttl;
        let user_id = user.id.clone();
        self.db
            .run(move |r| r.add_refresh_token(&user_id, &hash, expires))
            .await?;
        self.reply(user, token)
    }

    fn reply(&self, user: UserRow, refresh_token: String) -> AppResult<TokenReply> {
        let access_token = self
            .keys
            .sign(&user.id, Utc::now().timestamp(), self.access_ttl.as_secs())
            .map_err(AppError::internal)?;
        Ok(TokenReply {
            access_token,
            token_type: "Bearer".into(),
            expires_in: self.access_ttl.as_secs(),
            refresh_token,
            user: user.to_api(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(
            normalize_email("  Ann@Example.COM ").ok().as_deref(),
            Some("ann@example.com")
        );
        assert!(normalize_email("no-at-sign").is_err());
        assert!(normalize_email("@x").is_err());
        assert!(normalize_email("a@").is_err());
        assert!(normalize_email("a b@x").is_err());
    }
}
