//! The same transfers through WebDAV (`/dav/`, HTTP Basic with an app password) and through
//! the API, on one server, alternating which goes first: a big file up and down, and many
//! small files up and down with the same number of requests in flight.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use dbx_shared::api::{AppPassword, CreateAppPasswordRequest};
use futures_util::{stream, StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::RequestBuilder;
use serde::Serialize;
use tokio::time::Instant;

use crate::api::{describe, ok_json, Api, REQUEST_TIMEOUT};
use crate::transfer::{api_download, api_upload, rate, BIG_TIMEOUT};
use crate::util::{generated_body, percentile, Prng};

/// Requests in flight for the small files, on both sides (rclone's default `--transfers`
/// is 4).
pub const SMALL_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone, Serialize)]
pub struct WebdavReport {
    pub big_size_bytes: u64,
    pub big_runs: usize,
    /// Medians in MiB/s.
    pub big_up_api_mib_s: f64,
    pub big_up_dav_mib_s: f64,
    pub big_down_api_mib_s: f64,
    pub big_down_dav_mib_s: f64,
    pub small_files: usize,
    pub small_size_bytes: u64,
    pub in_flight: usize,
    /// Files per second, medians over the runs.
    pub small_up_api_files_s: f64,
    pub small_up_dav_files_s: f64,
    pub small_down_api_files_s: f64,
    pub small_down_dav_files_s: f64,
}

impl WebdavReport {
    /// WebDAV's rate over the API's, for each of the four transfers.
    pub fn ratios(&self) -> [(&'static str, f64); 4] {
        [
            ("big up", self.big_up_dav_mib_s / self.big_up_api_mib_s),
            (
                "big down",
                self.big_down_dav_mib_s / self.big_down_api_mib_s,
            ),
            (
                "small up",
                self.small_up_dav_files_s / self.small_up_api_files_s,
            ),
            (
                "small down",
                self.small_down_dav_files_s / self.small_down_api_files_s,
            ),
        ]
    }
}

/// A WebDAV client of one account.
struct Dav {
    api: Api,
    user: String,
    password: String,
}

impl Dav {
    async fn new(api: &Api, email: &str) -> Result<Dav> {
        let resp = api
            .post("/app-passwords")
            .json(&CreateAppPasswordRequest {
                name: format!("bench-{}", crate::util::fresh_seed()),
            })
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .context("create an app password")?;
        let created: AppPassword = ok_json(resp, "create an app password").await?;
        let Some(password) = created.password else {
            bail!("the app password reply holds no password");
        };
        Ok(Dav {
            api: api.clone(),
            user: email.to_string(),
            password,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.api
            .http
            .request(method, format!("{}/dav{path}", self.api.base))
            .basic_auth(&self.user, Some(&self.password))
    }

    async fn put(&self, path: &str, body: reqwest::Body, len: u64) -> Result<()> {
        let resp = self
            .request(reqwest::Method::PUT, path)
            .header(CONTENT_LENGTH, len)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .timeout(BIG_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("WebDAV PUT {path}"))?;
        if !resp.status().is_success() {
            bail!("WebDAV PUT {path}: {}", describe(resp).await);
        }
        Ok(())
    }

    /// Reads the whole body, streaming; returns its length.
    async fn get(&self, path: &str) -> Result<u64> {
        let resp = self
            .request(reqwest::Method::GET, path)
            .timeout(BIG_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("WebDAV GET {path}"))?;
        if !resp.status().is_success() {
            bail!("WebDAV GET {path}: {}", describe(resp).await);
        }
        let mut got = 0u64;
        let mut body = resp.bytes_stream();
        while let Some(piece) = body.next().await {
            got += piece.context("WebDAV GET body")?.len() as u64;
        }
        Ok(got)
    }
}

pub struct WebdavPlan {
    pub big_size: u64,
    pub big_runs: usize,
    pub small_files: usize,
    pub small_size: u64,
}

pub async fn measure(api: &Api, email: &str, plan: &WebdavPlan, seed: u64) -> Result<WebdavReport> {
    let dav = Arc::new(Dav::new(api, email).await?);
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let root = format!("bench-webdav-{stamp}");
    let root_id = api.create_folder(None, &root).await?;
    let mut rng = Prng::new(seed);

    let (mut up_api, mut up_dav, mut down_api, mut down_dav) = (vec![], vec![], vec![], vec![]);
    for run in 0..plan.big_runs {
        let size = plan.big_size;
        let api_path = format!("/{root}/api-{run}.bin");
        let dav_path = format!("/{root}/dav-{run}.bin");
        let dav_first = run % 2 == 1;
        let mut api_id = String::new();
        for side in [dav_first, !dav_first] {
            if side {
                let body = reqwest::Body::wrap_stream(generated_body(size, rng.next_u64()));
                let started = Instant::now();
                dav.put(&dav_path, body, size).await?;
                up_dav.push(rate(size, started.elapsed()));
            } else {
                let (id, took) = api_upload(api, &api_path, size, rng.next_u64()).await?;
                api_id = id;
                up_api.push(rate(size, took));
            }
        }
        for side in [dav_first, !dav_first] {
            if side {
                let started = Instant::now();
                let got = dav.get(&dav_path).await?;
                down_dav.push(rate(size, started.elapsed()));
                ensure!(got == size, "WebDAV GET returned {got} bytes of {size}");
            } else {
                down_api.push(rate(size, api_download(api, &api_id, size).await?));
            }
        }
    }

    let small = small_files(api, &dav, &root_id, &root, plan, &mut rng).await?;
    let median = |v: &[f64]| percentile(v, 0.5).unwrap_or(0.0);
    Ok(WebdavReport {
        big_size_bytes: plan.big_size,
        big_runs: plan.big_runs,
        big_up_api_mib_s: median(&up_api),
        big_up_dav_mib_s: median(&up_dav),
        big_down_api_mib_s: median(&down_api),
        big_down_dav_mib_s: median(&down_dav),
        small_files: plan.small_files,
        small_size_bytes: plan.small_size,
        in_flight: SMALL_IN_FLIGHT,
        small_up_api_files_s: small[0],
        small_up_dav_files_s: small[1],
        small_down_api_files_s: small[2],
        small_down_dav_files_s: small[3],
    })
}

/// Files per second: [up API, up WebDAV, down API, down WebDAV], each the median of two
/// rounds; the API goes first in the first round and second in the other.
async fn small_files(
    api: &Api,
    dav: &Arc<Dav>,
    root_id: &str,
    root: &str,
    plan: &WebdavPlan,
    rng: &mut Prng,
) -> Result<[f64; 4]> {
    let len = usize::try_from(plan.small_size).context("small file size")?;
    let bodies: Vec<Bytes> = (0..plan.small_files).map(|_| rng.bytes(len)).collect();
    let mut rates: [Vec<f64>; 4] = Default::default();
    for round in 0..2 {
        let folder_api = format!("small-api-{round}");
        let folder_dav = format!("small-dav-{round}");
        let api_folder = api.create_folder(Some(root_id), &folder_api).await?;
        api.create_folder(Some(root_id), &folder_dav).await?;
        let dav_first = round == 1;
        let mut ids = Vec::new();
        for side in [dav_first, !dav_first] {
            let started = Instant::now();
            if side {
                let base = format!("/{root}/{folder_dav}");
                each(&bodies, |i, body| {
                    let (dav, path) = (dav.clone(), format!("{base}/f{i:05}"));
                    let len = body.len() as u64;
                    async move { dav.put(&path, body.into(), len).await }
                })
                .await?;
                rates[1].push(per_s(plan.small_files, started.elapsed()));
            } else {
                ids = stream::iter(bodies.iter().enumerate())
                    .map(|(i, body)| {
                        let (api, folder) = (api.clone(), api_folder.clone());
                        let body = body.clone();
                        async move {
                            api.upload_small(Some(&folder), &format!("f{i:05}"), body)
                                .await
                        }
                    })
                    .buffered(SMALL_IN_FLIGHT)
                    .try_collect::<Vec<String>>()
                    .await?;
                rates[0].push(per_s(plan.small_files, started.elapsed()));
            }
        }
        for side in [dav_first, !dav_first] {
            let started = Instant::now();
            if side {
                let base = format!("/{root}/{folder_dav}");
                each(&bodies, |i, body| {
                    let (dav, path, want) = (dav.clone(), format!("{base}/f{i:05}"), body.len());
                    async move {
                        let got = dav.get(&path).await?;
                        ensure!(
                            got == want as u64,
                            "WebDAV GET {path}: {got} bytes of {want}"
                        );
                        Ok(())
                    }
                })
                .await?;
                rates[3].push(per_s(plan.small_files, started.elapsed()));
            } else {
                stream::iter(ids.iter())
                    .map(|id| async move {
                        api_download(api, id, plan.small_size).await.map(|_| ())
                    })
                    .buffer_unordered(SMALL_IN_FLIGHT)
                    .try_collect::<Vec<()>>()
                    .await?;
                rates[2].push(per_s(plan.small_files, started.elapsed()));
            }
        }
    }
    Ok(rates.map(|r| percentile(&r, 0.5).unwrap_or(0.0)))
}

/// Runs `op` for every body, `SMALL_IN_FLIGHT` at a time; stops at the first error.
async fn each<F, Fut>(bodies: &[Bytes], op: F) -> Result<()>
where
    F: Fn(usize, Bytes) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    stream::iter(bodies.iter().enumerate())
        .map(|(i, b)| op(i, b.clone()))
        .buffer_unordered(SMALL_IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

fn per_s(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64().max(1e-9)
}
