//! Content transfers: 10 MB files many times, and one big file through dbx-server next to
//! the same object put to and got from the S3 server directly.

use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use futures_util::StreamExt;
use minio::s3::builders::{ObjectContent, Size};
use minio::s3::creds::StaticProvider;
use minio::s3::http::BaseUrl;
use minio::s3::types::{BucketName, ObjectKey, Region, S3Api};
use minio::s3::{MinioClient, MinioClientBuilder};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde::Serialize;
use tokio::time::Instant;

use crate::api::{ok_json, Api};
use crate::util::{generated_body, mib_per_s, percentile, Prng};

/// Time limit of one big transfer.
pub const BIG_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Uploads `size` bytes of generated content, streamed, to `path`; returns the file id and
/// the time taken.
pub async fn api_upload(api: &Api, path: &str, size: u64, seed: u64) -> Result<(String, Duration)> {
    let started = Instant::now();
    let resp = api
        .put("/files/content")
        .query(&[("path", path)])
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, size)
        .body(reqwest::Body::wrap_stream(generated_body(size, seed)))
        .timeout(BIG_TIMEOUT)
        .send()
        .await
        .with_context(|| format!("upload of {path}"))?;
    let entry: dbx_shared::api::Entry = ok_json(resp, "upload").await?;
    let took = started.elapsed();
    Ok((entry.id().to_string(), took))
}

/// Downloads a file, streaming, and checks its length.
pub async fn api_download(api: &Api, id: &str, size: u64) -> Result<Duration> {
    let started = Instant::now();
    let resp = api
        .get(&format!("/files/{id}/content"))
        .timeout(BIG_TIMEOUT)
        .send()
        .await
        .context("download")?;
    if !resp.status().is_success() {
        bail!("download: {}", crate::api::describe(resp).await);
    }
    let mut stream = resp.bytes_stream();
    let mut got = 0u64;
    while let Some(piece) = stream.next().await {
        got += piece.context("download body")?.len() as u64;
    }
    let took = started.elapsed();
    ensure!(got == size, "downloaded {got} bytes of {size}");
    Ok(took)
}

#[derive(Debug, Clone, Serialize)]
pub struct MediumReport {
    pub size_bytes: u64,
    pub runs: usize,
    pub upload_p50_s: f64,
    pub upload_p95_s: f64,
    pub upload_p50_mib_s: f64,
    pub download_p50_s: f64,
    pub download_p95_s: f64,
    pub download_p50_mib_s: f64,
}

/// `runs` uploads of distinct `size`-byte files (bodies made before the clock starts), then
/// `runs` downloads of them.
pub async fn medium(api: &Api, size: u64, runs: usize, seed: u64) -> Result<MediumReport> {
    let len = usize::try_from(size).context("size")?;
    let mut rng = Prng::new(seed);
    let mut ups = Vec::with_capacity(runs);
    let mut ids = Vec::with_capacity(runs);
    for i in 0..runs {
        let body = rng.bytes(len);
        let started = Instant::now();
        let resp = api
            .put("/files/content")
            .query(&[("path", format!("/bench-medium/file-{i:03}.bin").as_str())])
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .timeout(BIG_TIMEOUT)
            .send()
            .await
            .context("10 MB upload")?;
        let entry: dbx_shared::api::Entry = ok_json(resp, "10 MB upload").await?;
        ups.push(started.elapsed().as_secs_f64());
        ids.push(entry.id().to_string());
    }
    let mut downs = Vec::with_capacity(runs);
    for id in &ids {
        downs.push(api_download(api, id, size).await?.as_secs_f64());
    }
    let p = |v: &[f64], q: f64| percentile(v, q).unwrap_or(f64::NAN);
    let rate = |secs: f64| size as f64 / crate::util::MIB as f64 / secs;
    Ok(MediumReport {
        size_bytes: size,
        runs,
        upload_p50_s: p(&ups, 0.5),
        upload_p95_s: p(&ups, 0.95),
        upload_p50_mib_s: rate(p(&ups, 0.5)),
        download_p50_s: p(&downs, 0.5),
        download_p95_s: p(&downs, 0.95),
        download_p50_mib_s: rate(p(&downs, 0.5)),
    })
}

/// Where the S3 server is.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    pub bucket: String,
}

/// The S3 server used directly, with the `minio` crate and the server's part size.
pub struct DirectS3 {
    client: MinioClient,
    bucket: BucketName,
    part_size: u64,
}

impl DirectS3 {
    pub fn new(s: &S3Settings, part_size: u64) -> Result<DirectS3> {
        let mut base: BaseUrl = s
            .endpoint
            .parse()
            .map_err(|e| anyhow!("invalid S3 endpoint {:?}: {e}", s.endpoint))?;
        if !base.host().starts_with("127.") && base.host() != "localhost" {
            bail!(
                "the S3 endpoint {} is not on this machine (127.0.0.1)",
                s.endpoint
            );
        }
        base.region = Region::new(s.region.as_str())
            .map_err(|e| anyhow!("invalid S3 region {:?}: {e}", s.region))?;
        let client = MinioClientBuilder::new(base)
            .provider(Some(StaticProvider::new(
                &s.access_key,
                &s.secret_key,
                None,
            )))
            .build()
            .map_err(|e| anyhow!("cannot set up the S3 client: {e}"))?;
        let bucket = BucketName::new(s.bucket.as_str())
            .map_err(|e| anyhow!("invalid bucket {:?}: {e}", s.bucket))?;
        Ok(DirectS3 {
            client,
            bucket,
            part_size,
        })
    }

    /// Streams `size` generated bytes to `key` as dbx-server does: unknown length, parts of
    /// the server's part size.
    pub async fn put(&self, key: &str, size: u64, seed: u64) -> Result<Duration> {
        let object = ObjectKey::new(key).map_err(|e| anyhow!("invalid key {key:?}: {e}"))?;
        let content = ObjectContent::new_from_stream(generated_body(size, seed), Size::Unknown);
        let started = Instant::now();
        let resp = self
            .client
            .put_object_content(&self.bucket, object, content)
            .map_err(|e| anyhow!("S3 put: {e}"))?
            .part_size(Size::Known(self.part_size))
            .build()
            .send()
            .await
            .map_err(|e| anyhow!("S3 put of {key}: {e}"))?;
        let took = started.elapsed();
        ensure!(
            resp.object_size() == size,
            "S3 stored {} bytes of {size}",
            resp.object_size()
        );
        Ok(took)
    }

    pub async fn get(&self, key: &str, size: u64) -> Result<Duration> {
        let object = ObjectKey::new(key).map_err(|e| anyhow!("invalid key {key:?}: {e}"))?;
        let started = Instant::now();
        let resp = self
            .client
            .get_object(&self.bucket, object)
            .map_err(|e| anyhow!("S3 get: {e}"))?
            .build()
            .send()
            .await
            .map_err(|e| anyhow!("S3 get of {key}: {e}"))?;
        let (mut stream, _len) = resp
            .into_boxed_stream()
            .map_err(|e| anyhow!("S3 get of {key}: {e}"))?;
        let mut got = 0u64;
        while let Some(piece) = stream.next().await {
            got += piece.context("S3 get body")?.len() as u64;
        }
        let took = started.elapsed();
        ensure!(got == size, "S3 get returned {got} bytes of {size}");
        Ok(took)
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        self.client
            .delete_object(&self.bucket, key)
            .map_err(|e| anyhow!("S3 delete: {e}"))?
            .build()
            .send()
            .await
            .map_err(|e| anyhow!("S3 delete of {key}: {e}"))?;
        Ok(())
    }
}

/// Rates of one direction of the big transfer, in MiB/s per run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rates {
    pub via_server_mib_s: Vec<f64>,
    pub direct_s3_mib_s: Vec<f64>,
}

impl Rates {
    pub fn via_server(&self) -> Option<f64> {
        percentile(&self.via_server_mib_s, 0.5)
    }

    pub fn direct(&self) -> Option<f64> {
        percentile(&self.direct_s3_mib_s, 0.5)
    }

    /// Median through dbx-server over median direct.
    pub fn ratio(&self) -> Option<f64> {
        Some(self.via_server()? / self.direct()?)
    }
}

pub fn rate(size: u64, took: Duration) -> f64 {
    mib_per_s(size, took)
}
