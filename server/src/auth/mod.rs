//! Accounts and sessions: register, login, refresh-token rotation, logout, and checking
//! the bearer token of every other call.

pub mod app_passwords;
pub mod password;
pub mod throttle;
pub mod tokens;

use std::net::IpAddr;
use std::time::Duration;

use chrono::Utc;
use dbx_shared::api::{TokenReply, User};

use crate::error::{AppError, AppResult};
use crate::metadata::{Db, RefreshPolicy, Rotation, UserRow};
use password::HashQueue;
use throttle::{rate_key, Throttle};
use tokens::{random_token, token_hash, JwtKeys};

/// Whether anyone may create an account through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Registration {
    Open,
    /// Accounts are made by the administrator (`dbx-server user add`).
    Closed,
}

pub struct Auth {
    db: Db,
    keys: JwtKeys,
    access_ttl: Duration,
    refresh: RefreshPolicy,
    registration: Registration,
    hashing: HashQueue,
    /// Login attempts per account *and* address: a stranger guessing one account's
    /// password from elsewhere uses up their own budget, never the owner's.
    by_account: Throttle<(String, IpAddr)>,
    by_addr: Throttle<IpAddr>,
    registrations: Throttle<IpAddr>,
}

/// The key for an unknown peer (no socket address): all of them share one budget.
const NO_ADDR: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

fn limited(retry_after_secs: u64) -> AppError {
    AppError::RateLimited { retry_after_secs }
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

/// Creates an account, whatever the registration setting (also `dbx-server user add`).
pub async fn create_account(
    db: &Db,
    hashing: &HashQueue,
    email: &str,
    password: &str,
) -> AppResult<UserRow> {
    let email = normalize_email(email)?;
    check_password_shape(password)?;
    let phc = hashing
        .hash(password.to_string())
        .await?
        .map_err(AppError::internal)?;
    Ok(db
        .run(move |r| r.create_user(&email, &phc, Utc::now()))
        .await?)
}

impl Auth {
    pub fn new(
        db: Db,
        secret: &[u8],
        access_ttl: Duration,
        refresh: RefreshPolicy,
        registration: Registration,
        shared: Option<&throttle::SharedCounters>,
    ) -> Self {
        Auth {
            db,
            keys: JwtKeys::new(secret),
            access_ttl,
            refresh,
            registration,
            // Ten guesses at once per account, then one every six seconds: a password
            // cannot be tried at line speed, and a mistyping person is rarely slowed.
            by_account: Throttle::new("login-account", 10, Duration::from_secs(6), shared),
            by_addr: Throttle::new("login-addr", 30, Duration::from_secs(2), shared),
            hashing: HashQueue::per_cpu(),
            // A household or an office behind one address can sign up a handful of
            // people at once; a script cannot mint thousands of accounts.
            registrations: Throttle::new("register", 20, Duration::from_secs(60), shared),
        }
    }

    pub async fn register(
        &self,
        email: &str,
        password: &str,
        addr: Option<IpAddr>,
    ) -> AppResult<UserRow> {
        if self.registration == Registration::Closed {
            return Err(AppError::Forbidden(
                "registration is closed on this server: ask its administrator for an account"
                    .into(),
            ));
        }
        let ip = addr.map_or(NO_ADDR, rate_key);
        self.registrations.check(&ip).await.map_err(limited)?;
        self.add_user(email, password).await
    }

    async fn add_user(&self, email: &str, password: &str) -> AppResult<UserRow> {
        create_account(&self.db, &self.hashing, email, password).await
    }

    pub async fn login(
        &self,
        email: &str,
        password: &str,
        addr: Option<IpAddr>,
    ) -> AppResult<TokenReply> {
        let email = email.trim().to_lowercase();
        let ip = addr.map_or(NO_ADDR, rate_key);
        self.by_addr.check(&ip).await.map_err(limited)?;
        // Keyed on the e-mail as typed, whether or not it exists, so the limit itself
        // reveals nothing about which accounts exist.
        self.by_account
            .check(&(email.clone(), ip))
            .await
            .map_err(limited)?;
        let lookup = email.clone();
        let user = self.db.run(move |r| r.user_by_email(&lookup)).await?;
        let phc = user.as_ref().map(|u| u.password_hash.clone());
        let ok = self.hashing.verify(password.to_string(), phc).await?;
        match user {
            Some(user) if ok => self.issue(user).await,
            _ => Err(AppError::Unauthorized(BAD_CREDENTIALS.into())),
        }
    }

    pub async fn refresh(&self, refresh_token: &str) -> AppResult<TokenReply> {
        let old = token_hash(refresh_token);
        let new = random_token().map_err(AppError::internal)?;
        let new_hash = token_hash(&new);
        let policy = self.refresh;
        let rotation = self
            .db
            .run(move |r| r.rotate_refresh_token(&old, &new_hash, &policy, Utc::now()))
            .await?;
        if let Rotation::ReuseDetected { user_id } = &rotation {
            tracing::warn!(
                user = %user_id,
                "a rotated refresh token was presented again: the session is revoked"
            );
        }
        let owner = rotation
            .issued_to()
            .map(str::to_string)
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
        self.registrations.shrink();
    }

    async fn issue(&self, user: UserRow) -> AppResult<TokenReply> {
        let token = random_token().map_err(AppError::internal)?;
        let hash = token_hash(&token);
        let policy = self.refresh;
        let user_id = user.id.clone();
        self.db
            .run(move |r| r.add_refresh_token(&user_id, &hash, &policy, Utc::now()))
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
