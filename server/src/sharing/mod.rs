//! Read-only share links: tokens shown once and stored as hashes, expiry, download limits
//! counted atomically, revocation, and a per-address limit on guessing.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{Timelike, Utc};
use dbx_shared::api::{CreateShareRequest, Share};

use crate::auth::throttle::Throttle;
use crate::auth::tokens::{random_token, token_hash};
use crate::error::{AppError, AppResult};
use crate::metadata::{Db, EntryRow, NewShare, ShareRow};
use crate::storage::ByteRange;

pub struct Shares {
    db: Db,
    public_url: String,
    guesses: Throttle<IpAddr>,
}

const NO_LINK: &str = "no such share link";

fn out_of_downloads() -> AppError {
    AppError::Gone("this share link is out of downloads".into())
}

/// Whether a GET serving `range` (`None`: the whole file; resolved against the file's real
/// size) counts as a download of `share`. On a link with `max_downloads` every GET counts,
/// whatever its range: counting only fetches that serve byte 0 let `bytes=1-` fetch the
/// file again and again for free. On a link without a limit, a GET counts when it serves
/// byte 0, so a client fetching a file in pieces shows up once in `download_count`.
pub fn counts_as_download(share: &ShareRow, range: Option<ByteRange>) -> bool {
    share.max_downloads.is_some() || range.is_none_or(|r| r.start == 0)
}

impl Shares {
    pub fn new(
        db: Db,
        public_url: String,
        shared: Option<&crate::auth::throttle::SharedCounters>,
    ) -> Self {
        Shares {
            db,
            public_url: public_url.trim_end_matches('/').to_string(),
            // A burst covers a page of thumbnails; past it, ten lookups a second.
            guesses: Throttle::new("share-token", 100, Duration::from_millis(100), shared),
        }
    }

    pub async fn create(&self, user_id: &str, mut req: CreateShareRequest) -> AppResult<Share> {
        // Links show whole seconds; keep no more than that, so the time shown is the time
        // enforced.
        req.expires_at = req.expires_at.map(|t| t.with_nanosecond(0).unwrap_or(t));
        if let Some(at) = req.expires_at {
            if at <= Utc::now() {
                return Err(AppError::bad_request("expires_at must be in the future"));
            }
        }
        // The stores keep the limit as a signed 64-bit integer; a bigger one would wrap
        // negative there and leave the link out of downloads from the start.
        if req
            .max_downloads
            .is_some_and(|m| m == 0 || i64::try_from(m).is_err())
        {
            return Err(AppError::bad_request(format!(
                "max_downloads must be from 1 to {}",
                i64::MAX
            )));
        }
        let token = random_token().map_err(AppError::internal)?;
        let new = NewShare {
            file_id: req.file_id,
            token_hash: token_hash(&token),
            expires_at: req.expires_at,
            max_downloads: req.max_downloads,
        };
        let user = user_id.to_string();
        let row = self
            .db
            .run(move |r| r.create_share(&user, &new, Utc::now()))
            .await?;
        let mut share = row.to_api();
        share.url = Some(format!("{}/s/{token}", self.public_url));
        share.token = Some(token);
        Ok(share)
    }

    pub async fn list(&self, user_id: &str) -> AppResult<Vec<Share>> {
        let user = user_id.to_string();
        let rows = self.db.run(move |r| r.list_shares(&user)).await?;
        Ok(rows.iter().map(ShareRow::to_api).collect())
    }

    pub async fn revoke(&self, user_id: &str, share_id: &str) -> AppResult<()> {
        let (user, id) = (user_id.to_string(), share_id.to_string());
        Ok(self.db.run(move |r| r.revoke_share(&user, &id)).await?)
    }

    /// The live link and file behind a public token: 404 unknown, revoked or deleted;
    /// 410 expired or out of downloads. Takes no download: see `take_download`.
    pub async fn open(&self, token: &str, addr: Option<IpAddr>) -> AppResult<(ShareRow, EntryRow)> {
        if let Some(ip) = addr {
            self.guesses
                .check(&crate::auth::throttle::rate_key(ip))
                .await
                .map_err(|s| AppError::RateLimited {
                    retry_after_secs: s,
                })?;
        }
        let hash = token_hash(token);
        let found = self.db.run(move |r| r.share_by_token_hash(&hash)).await?;
        let (share, file) = match found {
            Some((share, Some(file))) if !share.disabled => (share, file),
            _ => return Err(AppError::NotFound(NO_LINK.into())),
        };
        if share.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(AppError::Gone("this share link has expired".into()));
        }
        if share
            .max_downloads
            .is_some_and(|max| share.download_count >= max)
        {
            return Err(out_of_downloads());
        }
        Ok((share, file))
    }

    /// Counts one download of the link, atomically; 410 when none is left (a concurrent
    /// request took the last one).
    pub async fn take_download(&self, share: &ShareRow) -> AppResult<()> {
        let id = share.id.clone();
        if self.db.run(move |r| r.count_share_download(&id)).await? {
            Ok(())
        } else {
            Err(out_of_downloads())
        }
    }

    pub fn shrink_throttle(&self) {
        self.guesses.shrink();
    }
}
