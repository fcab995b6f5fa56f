//! A tus 1.0.0 client for the tests, call by call, on reqwest.

use base64::Engine;
use reqwest::{Method, Response, StatusCode};

use dbx_server::config::StoreArgs;
use dbx_server::storage::Staged;

use super::User;

pub const OFFSET_STREAM: &str = "application/offset+octet-stream";

/// `Upload-Metadata` for these pairs.
pub fn metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k} {}",
                base64::engine::general_purpose::STANDARD.encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A request with `Tus-Resumable: 1.0.0`.
pub fn req(user: &User, method: Method, path: &str) -> reqwest::RequestBuilder {
    user.req(method, path).header("Tus-Resumable", "1.0.0")
}

/// POST with these metadata pairs; the reply as it is.
pub async fn create_with(user: &User, length: u64, pairs: &[(&str, &str)]) -> Response {
    req(user, Method::POST, "/api/v1/uploads")
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", metadata(pairs))
        .send()
        .await
        .expect("POST upload")
}

/// Creates an upload of `length` bytes for `path`; returns its location (a path).
pub async fn create(user: &User, length: u64, path: &str) -> String {
    let r = create_with(user, length, &[("path", path)]).await;
    assert_eq!(r.status(), StatusCode::CREATED, "create upload");
    assert_tus(&r);
    header(&r, "location")
}

pub async fn patch(user: &User, location: &str, offset: u64, data: Vec<u8>) -> Response {
    patch_body(user, location, offset, data.into()).await
}

pub async fn patch_body(user: &User, location: &str, offset: u64, body: reqwest::Body) -> Response {
    req(user, Method::PATCH, location)
        .header("Content-Type", OFFSET_STREAM)
        .header("Upload-Offset", offset.to_string())
        .body(body)
        .send()
        .await
        .expect("PATCH")
}

pub async fn head(user: &User, location: &str) -> Response {
    req(user, Method::HEAD, location)
        .send()
        .await
        .expect("HEAD")
}

/// The upload's offset as HEAD tells it.
pub async fn offset(user: &User, location: &str) -> u64 {
    let r = head(user, location).await;
    assert_eq!(r.status(), StatusCode::OK, "HEAD {location}");
    number(&r, "upload-offset")
}

pub fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_string()
}

pub fn number(r: &Response, name: &str) -> u64 {
    header(r, name).parse().expect("a number")
}

pub fn assert_tus(r: &Response) {
    assert_eq!(
        r.headers()
            .get("tus-resumable")
            .and_then(|v| v.to_str().ok()),
        Some("1.0.0"),
        "Tus-Resumable on a {} reply",
        r.status()
    );
}

/// The stored state of an upload (for its multipart id and key).
pub async fn staged(server: &super::TestServer, user: &User, location: &str) -> Staged {
    let (db, _) = server.stores().await;
    let (u, id) = (user.id.clone(), upload_id(location).to_string());
    db.run(move |r| r.upload(&u, &id))
        .await
        .expect("lookup")
        .expect("the upload's row")
        .staged
}

/// The upload id at the end of a location.
pub fn upload_id(location: &str) -> &str {
    location.rsplit('/').next().unwrap_or_default()
}

/// Bytes that do not repeat within a part, from a seed.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// What of a staged upload is left in the blob store: tail objects (S3), or the partial
/// file (filesystem), and on S3 whether its multipart upload still exists (asked by
/// aborting it: an abort that succeeds means it was left over).
pub async fn leftovers(server: &super::TestServer, staged: &Staged) -> usize {
    leftovers_in(&server.args.store, staged).await
}

pub async fn leftovers_in(store: &StoreArgs, staged: &Staged) -> usize {
    let url = store.blob_store_url();
    if let Some(root) = url.strip_prefix("file://") {
        let partial = std::path::Path::new(root).join(".uploads").join(&staged.id);
        return usize::from(partial.exists());
    }
    let blobs = dbx_server::app::open_blobs(store)
        .await
        .expect("open blobs");
    let tails = blobs
        .list(&dbx_server::storage::staged_prefix(&staged.id))
        .await
        .expect("list tails")
        .len();
    let parts = match &staged.multipart_id {
        Some(id) => usize::from(multipart_exists(store, &staged.key, id).await),
        None => 0,
    };
    tails + parts
}

/// Whether S3 still has this multipart upload: aborting it succeeds only then.
async fn multipart_exists(store: &StoreArgs, key: &str, upload_id: &str) -> bool {
    use minio::s3::creds::StaticProvider;
    use minio::s3::types::S3Api;
    let mut base: minio::s3::http::BaseUrl = store
        .s3_endpoint
        .as_deref()
        .expect("endpoint")
        .parse()
        .expect("endpoint url");
    base.region = minio::s3::types::Region::new(&store.s3_region).expect("region");
    let client = minio::s3::MinioClientBuilder::new(base)
        .provider(Some(StaticProvider::new(
            store.s3_access_key.as_deref().expect("key"),
            store.s3_secret_key.as_deref().expect("secret"),
            None,
        )))
        .build()
        .expect("client");
    let bucket = store
        .blob_store_url()
        .strip_prefix("s3://")
        .expect("bucket")
        .to_string();
    client
        .abort_multipart_upload(bucket.as_str(), key, upload_id)
        .expect("request")
        .build()
        .send()
        .await
        .is_ok()
}
