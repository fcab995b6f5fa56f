//! App passwords: random secrets a user makes for WebDAV and other HTTP Basic clients,
//! shown once and kept only as a SHA-256 hash. Each has 256 random bits, so a fast hash
//! is as safe as argon2 here and lets every request be checked cheaply. Failed checks
//! count against the same per-account and per-address limits as logins.

use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use dbx_shared::api::AppPassword;

use super::throttle::rate_key;
use super::tokens::{random_token, token_hash};
use super::{limited, Auth, NO_ADDR};
use crate::error::{AppError, AppResult};
use crate::metadata::{new_id, AppPasswordRow, RepoResult, Repository, UserRow};

/// Longest app password name, in characters.
const MAX_NAME_CHARS: usize = 100;

impl AppPasswordRow {
    /// As `GET /app-passwords` shows it (no secret).
    pub fn to_api(&self) -> AppPassword {
        AppPassword {
            id: self.id.clone(),
            name: self.name.clone(),
            password: None,
            created_at: self.created_at,
        }
    }
}

/// A label for people: trimmed, 1 to 100 characters, no control characters.
fn check_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AppError::bad_request(format!(
            "an app password name must be 1 to {MAX_NAME_CHARS} characters, without control characters"
        )));
    }
    Ok(name.to_string())
}

/// E-mail and password of an `Authorization: Basic` header value.
fn parse_basic(header: Option<&str>) -> AppResult<(String, String)> {
    let unauthorized =
        || AppError::Unauthorized("an e-mail and an app password (HTTP Basic) are required".into());
    let encoded = header
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, rest)| rest.trim())
        .ok_or_else(unauthorized)?;
    let decoded = STANDARD.decode(encoded).map_err(|_| unauthorized())?;
    let text = String::from_utf8(decoded).map_err(|_| unauthorized())?;
    let (email, password) = text.split_once(':').ok_or_else(unauthorized)?;
    Ok((email.trim().to_lowercase(), password.to_string()))
}

impl Auth {
    /// Makes an app password; the reply is the only time its secret is shown.
    pub async fn create_app_password(&self, user_id: &str, name: &str) -> AppResult<AppPassword> {
        let name = check_name(name)?;
        let secret = random_token().map_err(AppError::internal)?;
        let row = AppPasswordRow {
            id: new_id(),
            user_id: user_id.to_string(),
            name,
            created_at: Utc::now(),
        };
        let (stored, hash) = (row.clone(), token_hash(&secret));
        self.db
            .run(move |r| r.add_app_password(&stored, &hash))
            .await?;
        Ok(AppPassword {
            password: Some(secret),
            ..row.to_api()
        })
    }

    pub async fn list_app_passwords(&self, user_id: &str) -> AppResult<Vec<AppPassword>> {
        let u = user_id.to_string();
        let rows = self.db.run(move |r| r.list_app_passwords(&u)).await?;
        Ok(rows.iter().map(AppPasswordRow::to_api).collect())
    }

    /// Deletes one of the caller's app passwords; it stops working at once, since every
    /// request is checked against the database.
    pub async fn revoke_app_password(&self, user_id: &str, id: &str) -> AppResult<()> {
        let (u, i) = (user_id.to_string(), id.to_string());
        Ok(self.db.run(move |r| r.revoke_app_password(&u, &i)).await?)
    }

    /// The user behind an `Authorization: Basic` header holding an e-mail and one of
    /// that account's app passwords, and what `then` reads for that user, in the same
    /// call to the database: a request that must read one thing pays one call, not two.
    pub async fn authenticate_basic<T, F>(
        &self,
        header: Option<&str>,
        addr: Option<IpAddr>,
        then: F,
    ) -> AppResult<(UserRow, T)>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Repository, &UserRow) -> RepoResult<T> + Send + 'static,
    {
        let (email, password) = parse_basic(header)?;
        // The same keys as login's limits: the address, and the e-mail from that address.
        let ip = addr.map_or(NO_ADDR, rate_key);
        let account = (email.clone(), ip);
        self.by_addr.refused(&ip).map_err(limited)?;
        self.by_account.refused(&account).map_err(limited)?;
        let (lookup, hash) = (email.clone(), token_hash(&password));
        let found = self
            .db
            .run(move |r| match r.user_by_app_password(&lookup, &hash)? {
                Some(user) => {
                    let more = then(r, &user)?;
                    Ok(Some((user, more)))
                }
                None => Ok(None),
            })
            .await?;
        match found {
            Some(found) => Ok(found),
            None => {
                self.by_addr.fail(&ip).await;
                self.by_account.fail(&account).await;
                Err(AppError::Unauthorized(
                    "wrong e-mail or app password".into(),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_credentials() {
        let h = format!("Basic {}", STANDARD.encode(" Ann@Example.com :se:cret"));
        assert_eq!(
            parse_basic(Some(&h)).ok(),
            Some(("ann@example.com".to_string(), "se:cret".to_string()))
        );
        assert!(parse_basic(None).is_err());
        assert!(parse_basic(Some("Bearer abc")).is_err());
        assert!(parse_basic(Some("Basic !!!")).is_err());
        let no_colon = format!("Basic {}", STANDARD.encode("ann"));
        assert!(parse_basic(Some(&no_colon)).is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name("  laptop ").ok().as_deref(), Some("laptop"));
        assert!(check_name("   ").is_err());
        assert!(check_name(&"x".repeat(101)).is_err());
        assert!(check_name("a\nb").is_err());
    }
}
