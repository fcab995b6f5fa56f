//! Access tokens (HS256 JWTs, algorithm pinned, `exp` required) and refresh tokens
//! (random, opaque, stored only as their SHA-256).

use base64::Engine;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::TryRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // One server signs and checks, so there is no clock skew to allow for; a token
        // is dead the second it expires.
        validation.leeway = 0;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signs an access token for `user_id`, valid for `ttl_secs`.
    pub fn sign(&self, user_id: &str, now: i64, ttl_secs: u64) -> Result<String, String> {
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now,
            exp: now + ttl_secs as i64,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// The user id of a valid, unexpired token.
    pub fn verify(&self, token: &str) -> Option<String> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims.sub)
    }
}

/// 256 random bits from the OS, URL-safe base64: for refresh tokens and share links.
pub fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| format!("the OS random source failed: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What the database keeps of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_with_the_configured_backend() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let now = chrono::Utc::now().timestamp();
        let token = keys.sign("user-1", now, 60).unwrap_or_default();
        assert_eq!(keys.verify(&token).as_deref(), Some("user-1"));
        let other = JwtKeys::new(b"another secret of enough length!");
        assert_eq!(
            other.verify(&token),
            None,
            "a token signed with another key"
        );
        let expired = keys.sign("user-1", now - 120, 60).unwrap_or_default();
        assert_eq!(keys.verify(&expired), None, "an expired token");
        assert_eq!(keys.verify("garbage"), None);
    }

    #[test]
    fn refuses_other_algorithms() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let keys = JwtKeys::new(secret);
        let claims = Claims {
            sub: "u".into(),
            iat: 0,
            exp: chrono::Utc::now().timestamp() + 60,
        };
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap_or_default();
        assert_eq!(keys.verify(&hs512), None);
    }

    #[test]
    fn random_tokens_are_long_url_safe_and_distinct() {
        let a = random_token().unwrap_or_default();
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, random_token().unwrap_or_default());
        assert_eq!(token_hash(&a).len(), 64);
    }
}
