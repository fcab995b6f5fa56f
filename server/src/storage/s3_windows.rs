//! Long reads from S3 as windows, a few fetched at once. One GET is served at the pace of
//! one of the store's streams; with ranges in flight side by side, the next window is on
//! its way while one is sent. A window whose transfer breaks is fetched again on its own,
//! where a broken single stream would end the download. A blob never changes under its
//! key (DESIGN.md invariant 2), so the windows join into exactly its bytes.

use std::io;

use bytes::Bytes;
use futures_util::{stream, StreamExt};

use super::s3::S3BlobStore;
use super::{BlobResult, ByteRange, ByteStream};

const MIB: u64 = 1024 * 1024;

/// Reads at least this long go by windows; shorter ones are one GET.
pub(super) const WINDOWED_MIN: u64 = 32 * MIB;

/// One window, and how many are fetched at once: what one download holds in memory.
const WINDOW: u64 = 8 * MIB;
const IN_FLIGHT: usize = 3;

/// Fetches of one window whose body broke off, before the download fails.
const BODY_ATTEMPTS: u32 = 3;

/// `range` of the object at `key`, in order, fetched `IN_FLIGHT` windows at a time. The
/// first window's request is made before this returns, so that an absent blob or a store
/// that is down is an error here, before any reply has started.
pub(super) async fn windowed(
    store: S3BlobStore,
    key: String,
    range: ByteRange,
) -> BlobResult<ByteStream> {
    let end = range.start.saturating_add(range.len);
    let mut windows = (range.start..end)
        .step_by(WINDOW as usize)
        .map(move |start| ByteRange {
            start,
            len: WINDOW.min(end - start),
        })
        .peekable();
    let mut started = match windows.peek() {
        Some(first) => Some(store.get_stream(&key, Some(*first)).await?),
        None => None,
    };
    Ok(Box::pin(
        stream::iter(windows)
            .map(move |w| {
                let (store, key, body) = (store.clone(), key.clone(), started.take());
                async move { fetch(&store, &key, w, body).await }
            })
            .buffered(IN_FLIGHT)
            // A window that came back whole but short ends at the object's end (a range
            // may reach past it, as with one GET): the windows after it are not read.
            .scan(false, |ended, window| {
                let item = (!*ended).then(|| {
                    *ended = window.as_ref().map_or(true, |w| w.short);
                    window.map(|w| w.pieces)
                });
                futures_util::future::ready(item)
            })
            .flat_map(|window| match window {
                Ok(pieces) => stream::iter(pieces.into_iter().map(Ok)).left_stream(),
                Err(e) => stream::once(async { Err(e) }).right_stream(),
            }),
    ))
}

/// One window's bytes, as the pieces they came in (no copy).
struct Window {
    pieces: Vec<Bytes>,
    /// Fewer bytes than asked: the object ends in this window.
    short: bool,
}

/// Window `w`, from `started` (its request made already) if given.
async fn fetch(
    store: &S3BlobStore,
    key: &str,
    w: ByteRange,
    mut started: Option<ByteStream>,
) -> io::Result<Window> {
    let mut tries = 1;
    loop {
        let body = match started.take() {
            Some(body) => body,
            // Retried inside until the reply starts; a refusal or an absent blob ends here.
            None => store
                .get_stream(key, Some(w))
                .await
                .map_err(io::Error::other)?,
        };
        // A transfer cut short is an error here (the reply's length is known), not a
        // short window.
        let failure = match read_all(body).await {
            Ok((pieces, got)) if got <= w.len => {
                return Ok(Window {
                    pieces,
                    short: got < w.len,
                })
            }
            Ok((_, got)) => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("S3 sent {got} bytes of {key} where {} were asked", w.len),
            ),
            Err(e) => e,
        };
        if tries >= BODY_ATTEMPTS {
            return Err(failure);
        }
        tracing::debug!(key, start = w.start, tries, error = %failure, "S3 read broke off; fetching the window again");
        tries += 1;
    }
}

/// The pieces of `body` as they came (no copy), and their total length.
async fn read_all(mut body: ByteStream) -> io::Result<(Vec<Bytes>, u64)> {
    let (mut pieces, mut got) = (Vec::new(), 0);
    while let Some(piece) = body.next().await {
        let piece = piece?;
        got += piece.len() as u64;
        pieces.push(piece);
    }
    Ok((pieces, got))
}
