//! The session: register, login and logout, and the access token behind every call,
//! renewed a little before it runs out or after a 401, with the rotated tokens saved at
//! once.

use chrono::Utc;
use dbx_shared::api::{
    Credentials as LoginBody, MeReply, RefreshRequest, RegisterReply, TokenReply, User,
};
use reqwest::StatusCode;

use super::{json, Api, ApiResult, ClientError};
use crate::config::Credentials;

impl Api {
    pub async fn register(&self, email: &str, password: &str) -> ApiResult<User> {
        let body = login_body(email, password);
        let rb = self.http.post(self.url("/auth/register")).json(&body);
        let reply: RegisterReply = json(self.exec(rb).await?).await?;
        Ok(reply.user)
    }

    /// Logs in and keeps (and saves) the new session.
    pub async fn login(&self, email: &str, password: &str) -> ApiResult<Credentials> {
        let body = login_body(email, password);
        let rb = self.http.post(self.url("/auth/login")).json(&body);
        let reply: TokenReply = json(self.exec(rb).await?).await?;
        let creds = self.session_from(reply);
        self.save(&creds)?;
        *self.session.lock().await = Some(creds.clone());
        Ok(creds)
    }

    /// Revokes the session's refresh token on the server and forgets the session.
    pub async fn logout(&self) -> ApiResult<()> {
        // Logout is an authenticated call: renew the access token first if it ran out
        // (a failure here only means the session is already dead).
        let access = self.access_token().await.ok().flatten();
        let Some(c) = self.session.lock().await.take() else {
            return Ok(());
        };
        let body = RefreshRequest {
            refresh_token: c.refresh_token,
        };
        let rb = self
            .http
            .post(self.url("/auth/logout"))
            .bearer_auth(access.unwrap_or(c.access_token))
            .json(&body);
        match self.exec(rb).await {
            Ok(_) => Ok(()),
            // Already dead on the server: that is what logout wants.
            Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn me(&self) -> ApiResult<MeReply> {
        self.get_json("/me", &[]).await
    }

    /// The access token to send, refreshed first if it is about to run out.
    pub(super) async fn access_token(&self) -> ApiResult<Option<String>> {
        let mut guard = self.session.lock().await;
        let Some(c) = guard.as_mut() else {
            return Ok(None);
        };
        if Utc::now() >= c.access_refresh_at {
            self.refresh_locked(c).await?;
        }
        Ok(Some(c.access_token.clone()))
    }

    /// After a 401 with `used`: refreshes, unless another task already did.
    pub(super) async fn refresh_after_401(&self, used: &str) -> ApiResult<String> {
        let mut guard = self.session.lock().await;
        let c = guard.as_mut().ok_or(ClientError::NotLoggedIn)?;
        if c.access_token == used {
            self.refresh_locked(c).await?;
        }
        Ok(c.access_token.clone())
    }

    /// Rotates the tokens and saves them. If the server refuses our refresh token,
    /// another dbx process may have rotated it: take the one it saved, if it differs.
    async fn refresh_locked(&self, c: &mut Credentials) -> ApiResult<()> {
        for _ in 0..2 {
            let body = RefreshRequest {
                refresh_token: c.refresh_token.clone(),
            };
            let rb = self.http.post(self.url("/auth/refresh")).json(&body);
            match self.exec(rb).await {
                Ok(resp) => {
                    let reply: TokenReply = json(resp).await?;
                    *c = self.session_from(reply);
                    return self.save(c);
                }
                Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) => {
                    match self.config.load_credentials() {
                        Ok(Some(disk))
                            if disk.server == c.server && disk.refresh_token != c.refresh_token =>
                        {
                            *c = disk;
                        }
                        _ => return Err(ClientError::NotLoggedIn),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::NotLoggedIn)
    }

    fn session_from(&self, reply: TokenReply) -> Credentials {
        // Refresh a little before the token runs out, so a request does not start with
        // a token that dies on the way (clocks and long uploads).
        let ttl = reply.expires_in;
        let early = (ttl / 4).min(30);
        let lifetime = i64::try_from(ttl - early).unwrap_or(i64::MAX / 2);
        Credentials {
            server: self.base.clone(),
            email: reply.user.email,
            user_id: reply.user.id,
            access_token: reply.access_token,
            refresh_token: reply.refresh_token,
            access_refresh_at: Utc::now()
                + chrono::Duration::seconds(lifetime.min(10 * 365 * 86400)),
        }
    }

    fn save(&self, c: &Credentials) -> ApiResult<()> {
        self.config
            .save_credentials(c)
            .map_err(|e| ClientError::Local(format!("{e:#}")))
    }
}

fn login_body(email: &str, password: &str) -> LoginBody {
    LoginBody {
        email: email.to_string(),
        password: password.to_string(),
    }
}
