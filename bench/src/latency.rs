//! Latency of the metadata calls and of a small upload, under 1 and 16 concurrent clients.
//!
//! Load model, per operation and client count:
//! 1. calibration: the clients send back to back (closed loop) for a few seconds, twice;
//!    the requests completed per second in the slower run are the capacity;
//! 2. measurement: open loop, as wrk2 does. Each client sends on a fixed schedule, so that
//!    together they offer `load` (default 50 %) of that capacity; a client whose previous
//!    request is still running sends late, and every latency is measured from the
//!    *intended* send time. A stall therefore shows in the percentiles for every request it
//!    delayed (no coordinated omission), instead of silently lowering the request rate.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use bytes::Bytes;
use dbx_shared::api::CreateFolderRequest;
use futures_util::{StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use reqwest::header::CONTENT_TYPE;
use reqwest::RequestBuilder;
use serde::Serialize;
use tokio::time::Instant;

use crate::api::{Api, REQUEST_TIMEOUT};
use crate::cpu::{other_share, CpuProbe, StealWatch};
use crate::procs::ServerProcess;
use crate::server_log;
use crate::util::Prng;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    ListFolder,
    CreateFolder,
    Upload4k,
    CreateShare,
    Delta1000,
}

impl Op {
    pub const ALL: [Op; 5] = [
        Op::ListFolder,
        Op::CreateFolder,
        Op::Upload4k,
        Op::CreateShare,
        Op::Delta1000,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Op::ListFolder => "list a folder of 1,000 entries",
            Op::CreateFolder => "create a folder",
            Op::Upload4k => "upload a 4 KiB file",
            Op::CreateShare => "create a share link",
            Op::Delta1000 => "/delta returning 1,000 changes",
        }
    }

    /// Calls that touch metadata only (the 10 ms target); the upload also writes a blob.
    pub fn is_metadata(self) -> bool {
        !matches!(self, Op::Upload4k)
    }
}

/// Entries the measured calls work on, made once per server.
pub struct Fixture {
    list_folder: String,
    mkdir_parent: String,
    upload_parent: String,
    share_file: String,
    delta_cursor: String,
    small_body: Bytes,
}

/// How many entries the listed folder and the delta page hold.
pub const PAGE: usize = 1000;

/// Makes a folder of `PAGE` entries (a tenth of them folders) and a cursor from which
/// `/delta` returns `PAGE` changes, plus parents for the created folders and files.
pub async fn prepare(api: &Api, seed: u64) -> Result<Fixture> {
    let delta_cursor = api.latest_cursor().await?;
    let list_folder = api.create_folder(None, "bench-list").await?;
    let mut rng = Prng::new(seed);
    let small_body = rng.bytes(4096);
    let made: Vec<String> = futures_util::stream::iter(0..PAGE)
        .map(|i| {
            let api = api.clone();
            let parent = list_folder.clone();
            let body = small_body.slice(i % 64..);
            async move {
                if i % 10 == 0 {
                    api.create_folder(Some(&parent), &format!("folder-{i:04}"))
                        .await
                } else {
                    api.upload_small(Some(&parent), &format!("file-{i:04}.bin"), body)
                        .await
                }
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await
        .context("filling the folder to list")?;
    ensure!(made.len() == PAGE, "made {} entries", made.len());
    let page = api.delta(&delta_cursor, PAGE).await?;
    ensure!(
        page.entries.len() == PAGE,
        "/delta from the fixture cursor returned {} changes, not {PAGE}",
        page.entries.len()
    );
    let mkdir_parent = api.create_folder(None, "bench-mkdir").await?;
    let upload_parent = api.create_folder(None, "bench-upload").await?;
    let share_file = api
        .upload_small(None, "bench-share.bin", small_body.clone())
        .await?;
    Ok(Fixture {
        list_folder,
        mkdir_parent,
        upload_parent,
        share_file,
        delta_cursor,
        small_body,
    })
}

fn request(api: &Api, fx: &Fixture, op: Op, name: &str) -> RequestBuilder {
    let req = match op {
        Op::ListFolder => api
            .get(&format!("/folders/{}/children", fx.list_folder))
            .query(&[("limit", "1000")]),
        Op::CreateFolder => api.post("/folders").json(&CreateFolderRequest {
            parent_id: Some(fx.mkdir_parent.clone()),
            name: name.to_string(),
        }),
        Op::Upload4k => api
            .put("/files/content")
            .query(&[("parent_id", fx.upload_parent.as_str()), ("name", name)])
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(fx.small_body.clone()),
        Op::CreateShare => api
            .post("/shares")
            .json(&serde_json::json!({ "file_id": fx.share_file })),
        Op::Delta1000 => api
            .get("/delta")
            .query(&[("cursor", fx.delta_cursor.as_str()), ("limit", "1000")]),
    };
    req.timeout(REQUEST_TIMEOUT)
}

/// Sends one request and reads the whole reply; true on a 2xx.
async fn call(req: RequestBuilder) -> bool {
    match req.send().await {
        Ok(resp) => {
            let ok = resp.status().is_success();
            let body = resp.bytes().await;
            ok && body.is_ok()
        }
        Err(_) => false,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyRow {
    pub op: Op,
    pub label: &'static str,
    pub clients: usize,
    /// Closed-loop requests per second, the slower of two runs just before.
    pub capacity_rps: f64,
    /// The open-loop rate offered to the server.
    pub target_rps: f64,
    /// Completed requests per second during the measurement.
    pub achieved_rps: f64,
    pub samples: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// Share of the whole machine that processes other than the bench, the server and its
    /// backends used during the measurement (0 to 1).
    pub other_cpu: Option<f64>,
    /// The largest share of the machine's CPU time that the hypervisor took in one 100 ms
    /// window of the measurement (0 to 1).
    pub steal_peak: Option<f64>,
    /// The 99th percentile of the server's own handler time over the measurement, in
    /// whole milliseconds as its request log gives them (truncated); None when the server
    /// logs no requests.
    pub server_p99_ms: Option<u64>,
}

/// Bounds of one measurement.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencyPlan {
    /// Fraction of the measured capacity offered in the open-loop run.
    pub load: f64,
    #[serde(with = "secs")]
    pub calibrate: Duration,
    /// Requests per measurement (at most).
    pub samples: u64,
    /// Time per measurement (at most).
    #[serde(with = "secs")]
    pub max_measure: Duration,
}

mod secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// Closed-loop runs per row; the slowest sets the capacity. One run alone once measured a
/// single client twice as fast as the measurement then found it (a quiet moment of the
/// host, or caches a later row no longer had), and the offered half of that capacity
/// saturated the server for seconds: a tail of the bench, not of dbx-server.
const CALIBRATIONS: usize = 2;

/// Calibrates and measures `op` with `clients` concurrent clients.
pub async fn measure(
    api: &Api,
    fx: &Arc<Fixture>,
    op: Op,
    clients: usize,
    plan: &LatencyPlan,
    cpu: &CpuProbe,
    server: &ServerProcess,
) -> Result<LatencyRow> {
    let (server_pid, server_log) = (server.pid, server.log.as_path());
    let clients = clients.max(1);
    // Names of created entries: unique per op (each op has its own parent) and client count.
    let run_tag = format!("n{clients}");
    let mut capacity = f64::INFINITY;
    for round in 0..CALIBRATIONS {
        let (done, _errors, took) = closed_loop(
            api,
            fx,
            op,
            clients,
            plan.calibrate,
            plan.samples.max(1),
            &format!("{run_tag}c{round}"),
        )
        .await?;
        ensure!(
            done > 0,
            "no request of '{}' succeeded during calibration",
            op.label()
        );
        capacity = capacity.min(done as f64 / took.as_secs_f64().max(1e-6));
    }
    let target = (capacity * plan.load).max(0.1);
    let before = cpu.snapshot(Some(server_pid));
    let log_mark = server_log::end_of(server_log);
    let steal = StealWatch::start();
    let open = open_loop(api, fx, op, clients, target, plan, &format!("{run_tag}m")).await?;
    let steal_peak = steal.peak().await;
    let server_p99_ms = log_mark
        .and_then(|m| server_log::request_ms_since(server_log, m))
        .map(|ms| percentile(ms, 0.99));
    let after = cpu.snapshot(Some(server_pid));
    let other_cpu = match (before, after) {
        (Some(a), Some(b)) => other_share(&a, &b),
        _ => None,
    };
    let h = &open.hist;
    let ms = |us: u64| us as f64 / 1000.0;
    Ok(LatencyRow {
        op,
        label: op.label(),
        clients,
        capacity_rps: capacity,
        target_rps: target,
        achieved_rps: h.len() as f64 / open.took.as_secs_f64().max(1e-6),
        samples: h.len(),
        errors: open.errors,
        p50_ms: ms(h.value_at_quantile(0.50)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
        mean_ms: h.mean() / 1000.0,
        other_cpu,
        steal_peak,
        server_p99_ms,
    })
}

/// Every client sends back to back until `limit` has passed or `max_requests` were sent;
/// returns (successes, errors, time taken).
async fn closed_loop(
    api: &Api,
    fx: &Arc<Fixture>,
    op: Op,
    clients: usize,
    limit: Duration,
    max_requests: u64,
    tag: &str,
) -> Result<(u64, u64, Duration)> {
    let start = Instant::now();
    let deadline = start + limit;
    let per_client = max_requests.div_ceil(clients as u64).max(1);
    let mut tasks = Vec::with_capacity(clients);
    for w in 0..clients {
        let api = api.clone();
        let fx = Arc::clone(fx);
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut err) = (0u64, 0u64);
            for i in 0..per_client {
                if Instant::now() >= deadline {
                    break;
                }
                let name = format!("{tag}-{w}-{i}");
                if call(request(&api, &fx, op, &name)).await {
                    ok += 1;
                } else {
                    err += 1;
                }
            }
            (ok, err)
        }));
    }
    let (mut ok, mut err) = (0, 0);
    for t in tasks {
        let (o, e) = t.await.map_err(|e| anyhow!("a client task failed: {e}"))?;
        ok += o;
        err += e;
    }
    Ok((ok, err, start.elapsed()))
}

struct OpenLoop {
    hist: Histogram<u64>,
    errors: u64,
    took: Duration,
}

fn new_hist() -> Result<Histogram<u64>> {
    // 1 µs to 10 minutes, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).map_err(|e| anyhow!("histogram: {e}"))
}

/// Each client sends on its own fixed schedule (period `clients / rate`, clients staggered
/// evenly); latency is counted from the intended send time.
async fn open_loop(
    api: &Api,
    fx: &Arc<Fixture>,
    op: Op,
    clients: usize,
    rate: f64,
    plan: &LatencyPlan,
    tag: &str,
) -> Result<OpenLoop> {
    let period = clients as f64 / rate;
    let per_client = plan.samples.div_ceil(clients as u64).max(1);
    // Start a little ahead so that every client is ready at its first slot.
    let start = Instant::now() + Duration::from_millis(20);
    let stop_scheduling = start + plan.max_measure;
    let mut tasks = Vec::with_capacity(clients);
    for w in 0..clients {
        let api = api.clone();
        let fx = Arc::clone(fx);
        let tag = tag.to_string();
        let offset = period * w as f64 / clients as f64;
        let mut hist = new_hist()?;
        tasks.push(tokio::spawn(async move {
            let mut errors = 0u64;
            for i in 0..per_client {
                let intended = start + Duration::from_secs_f64(offset + period * i as f64);
                if intended > stop_scheduling {
                    break;
                }
                tokio::time::sleep_until(intended).await;
                let name = format!("{tag}-{w}-{i}");
                let ok = call(request(&api, &fx, op, &name)).await;
                let micros = u64::try_from(intended.elapsed().as_micros()).unwrap_or(u64::MAX);
                if ok {
                    hist.saturating_record(micros.max(1));
                } else {
                    errors += 1;
                }
            }
            (hist, errors)
        }));
    }
    let mut hist = new_hist()?;
    let mut errors = 0;
    for t in tasks {
        let (h, e) = t.await.map_err(|e| anyhow!("a client task failed: {e}"))?;
        hist.add(&h).map_err(|e| anyhow!("histogram: {e}"))?;
        errors += e;
    }
    let took = start.elapsed();
    Ok(OpenLoop { hist, errors, took })
}

/// The value at quantile `q` (0 to 1) of `values`, nearest rank (as the client's
/// percentiles are taken).
fn percentile(values: Vec<u64>, q: f64) -> u64 {
    let Ok(mut hist) = new_hist() else {
        return 0;
    };
    for v in values {
        hist.saturating_record(v);
    }
    hist.value_at_quantile(q)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentile_is_the_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(values.clone(), 0.99), 99);
        assert_eq!(percentile(values, 0.5), 50);
        assert_eq!(percentile(vec![7], 0.99), 7);
        assert_eq!(percentile(vec![3, 1, 2], 1.0), 3);
    }
}
