//! A 1 GiB resumable upload against a real `dbx-server` process on Garage: cut at about
//! half, the server killed and started again, resumed to the end. The content hash
//! matches, the server's memory stays flat (its peak RSS, from /proc, stays under
//! `RSS_BOUND_MIB` while 1 GiB passes through it), and after the upload and a `gc` Garage
//! holds no part or tail of it. Needs the S3 server of `scripts/s3-server.sh env`
//! (skipped without one, except under CI=true).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::process::{command, ServerProcess};
use common::tus::{leftovers_in, metadata, OFFSET_STREAM};
use dbx_server::config::{ServeArgs, StoreArgs};
use dbx_shared::ContentHasher;
use futures_util::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const MIB: u64 = 1024 * 1024;
const TOTAL: u64 = 1024 * MIB;
/// Where the first request is cut.
const CUT: u64 = 512 * MIB + 3 * MIB + 12_345;
/// The bound on the server's peak resident memory: its own baseline (a debug build, some
/// 30 MiB) plus one 16 MiB part being filled, the part minio is sending and what the
/// sockets buffer. An upload held in memory would need more than 1 GiB.
const RSS_BOUND_MIB: u64 = 160;

/// The `--blob-store` and S3 flags of the environment's Garage.
fn s3_flags() -> Option<Vec<String>> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let Some(endpoint) = var("DBX_S3_ENDPOINT") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "DBX_S3_ENDPOINT must be set under CI (scripts/s3-server.sh env)"
        );
        eprintln!("skipped: no S3 server (eval \"$(scripts/s3-server.sh env)\")");
        return None;
    };
    Some(vec![
        format!("--blob-store=s3://{}", var("DBX_S3_BUCKET")?),
        format!("--s3-endpoint={endpoint}"),
        format!(
            "--s3-region={}",
            var("DBX_S3_REGION").unwrap_or("us-east-1".into())
        ),
        format!("--s3-access-key={}", var("DBX_S3_ACCESS_KEY")?),
        format!("--s3-secret-key={}", var("DBX_S3_SECRET_KEY")?),
    ])
}

fn store_args(data: &std::path::Path) -> StoreArgs {
    let mut store = ServeArgs::for_data_dir(data.to_path_buf()).store;
    let var = |k: &str| std::env::var(k).expect(k);
    store.blob_store = Some(format!("s3://{}", var("DBX_S3_BUCKET")));
    store.s3_endpoint = Some(var("DBX_S3_ENDPOINT"));
    store.s3_region = std::env::var("DBX_S3_REGION").unwrap_or("us-east-1".into());
    store.s3_access_key = Some(var("DBX_S3_ACCESS_KEY"));
    store.s3_secret_key = Some(var("DBX_S3_SECRET_KEY"));
    store
}

/// The content: 1 MiB chunks of a random block, each stamped with its index.
struct Content {
    block: Vec<u8>,
}

impl Content {
    fn new() -> Self {
        Content {
            block: common::tus::data(MIB as usize, 99),
        }
    }

    fn chunk(&self, i: u64) -> Bytes {
        let mut c = self.block.clone();
        c[..8].copy_from_slice(&i.to_le_bytes());
        Bytes::from(c)
    }

    /// The bytes from `start` up to `end`, in pieces.
    fn stream(
        &self,
        start: u64,
        end: u64,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        let block = self.block.clone();
        let first = start / MIB;
        let last = end.div_ceil(MIB);
        futures_util::stream::iter(first..last).map(move |i| {
            let mut c = block.clone();
            c[..8].copy_from_slice(&i.to_le_bytes());
            let from = start.saturating_sub(i * MIB).min(MIB) as usize;
            let to = (end - i * MIB).min(MIB) as usize;
            Ok(Bytes::from(c).slice(from..to))
        })
    }

    fn hash(&self) -> String {
        let mut h = ContentHasher::new();
        for i in 0..TOTAL / MIB {
            h.update(&self.chunk(i));
        }
        h.finalize()
    }
}

fn start(data: &std::path::Path, flags: &[String]) -> ServerProcess {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    ServerProcess::start(data, &flags, false)
}

async fn head_offset(client: &Client, url: &str, token: &str) -> u64 {
    let r = client
        .head(url)
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("HEAD");
    assert_eq!(r.status(), StatusCode::OK);
    r.headers()["upload-offset"]
        .to_str()
        .expect("offset")
        .parse()
        .expect("number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_gib_upload_cut_at_half_resumes_after_a_restart() {
    let Some(flags) = s3_flags() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let content = Content::new();
    let client = Client::new();
    let server = start(data, &flags);

    let email = format!("big{}@example.com", uuid::Uuid::new_v4().simple());
    let cred = json!({"email": email, "password": "correct horse battery"});
    let r = client
        .post(server.url("/api/v1/auth/register"))
        .json(&cred)
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), StatusCode::CREATED);
    let login: Value = client
        .post(server.url("/api/v1/auth/login"))
        .json(&cred)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("token").to_string();
    let user_id = login["user"]["id"].as_str().expect("id").to_string();

    let r = client
        .post(server.url("/api/v1/uploads"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", TOTAL.to_string())
        .header("Upload-Metadata", metadata(&[("path", "/big/1g.bin")]))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();

    // The first PATCH sends the whole file, but the client dies after CUT bytes.
    let started = Instant::now();
    let cut = content
        .stream(0, CUT)
        .chain(futures_util::stream::once(async {
            Err(std::io::Error::other("the client is cut off"))
        }));
    let sent = client
        .patch(server.url(&location))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", OFFSET_STREAM)
        .header("Upload-Offset", "0")
        .header("Content-Length", TOTAL.to_string())
        .body(reqwest::Body::wrap_stream(cut))
        .send()
        .await;
    assert!(sent.is_err(), "the cut request fails on the client");
    // The server keeps what arrived: wait for it to be stored.
    let mut offset = 0;
    for _ in 0..600 {
        offset = head_offset(&client, &server.url(&location), &token).await;
        if offset > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_part = started.elapsed();
    assert!(
        offset > 256 * MIB && offset <= CUT,
        "kept {offset} of the {CUT} bytes sent"
    );
    let peak_first = server.peak_rss_kib();

    // A restart (a kill, even): the upload is in the database and the store.
    drop(server.kill());
    let server = start(data, &flags);
    let url = server.url(&location);
    assert_eq!(
        head_offset(&client, &url, &token).await,
        offset,
        "the offset survives"
    );
    let store = store_args(data);
    let staged = {
        let (db, id) = (
            open_db(&store).await,
            location.rsplit('/').next().expect("id"),
        );
        let (u, i) = (user_id.clone(), id.to_string());
        db.run(move |r| r.upload(&u, &i))
            .await
            .expect("lookup")
            .expect("the upload")
            .staged
    };
    assert!(staged.multipart_id.is_some(), "one multipart upload on S3");

    let resumed = Instant::now();
    let r = client
        .patch(&url)
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", OFFSET_STREAM)
        .header("Upload-Offset", offset.to_string())
        .header("Content-Length", (TOTAL - offset).to_string())
        .body(reqwest::Body::wrap_stream(content.stream(offset, TOTAL)))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let second_part = resumed.elapsed();
    let file_id = r.headers()["dbx-file-id"].to_str().expect("id").to_string();
    let peak = server.peak_rss_kib().max(peak_first);
    eprintln!(
        "1 GiB tus upload: {offset} bytes before the cut in {first_part:?}, the rest in \
         {second_part:?}; server peak RSS {} MiB before the restart, {} MiB after",
        peak_first / 1024,
        server.peak_rss_kib() / 1024
    );

    // The content hash matches, as the server computed it and as the bytes read back.
    let expected = content.hash();
    let meta: Value = client
        .get(server.url(&format!("/api/v1/files/{file_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("meta")
        .json()
        .await
        .expect("json");
    assert_eq!(meta["size"], TOTAL);
    assert_eq!(meta["content_hash"], expected.as_str());
    let mut body = client
        .get(server.url(&format!("/api/v1/files/{file_id}/content")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("download")
        .bytes_stream();
    let mut h = ContentHasher::new();
    while let Some(piece) = body.next().await {
        h.update(&piece.expect("piece"));
    }
    assert_eq!(h.finalize(), expected, "the bytes read back");

    assert!(
        peak / 1024 < RSS_BOUND_MIB,
        "server peak RSS {} MiB, bound {RSS_BOUND_MIB} MiB",
        peak / 1024
    );

    // No part and no tail is left, after the upload and after a gc.
    assert_eq!(leftovers_in(&store, &staged).await, 0, "after completion");
    let gc = command(data).arg("gc").args(&flags).output().expect("gc");
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    assert_eq!(leftovers_in(&store, &staged).await, 0, "after gc");
    drop(server);
}

async fn open_db(store: &StoreArgs) -> dbx_server::metadata::Db {
    let url = store.database_url();
    let repo = tokio::task::spawn_blocking(move || dbx_server::app::open_repository(&url))
        .await
        .expect("task")
        .expect("open the database");
    dbx_server::metadata::Db::new(repo)
}
