//! What the criterion benches share: the steady-state load, timestamp shifting, a tenant
//! database in a tempdir and the criterion settings (short: the machine is shared).
// Each bench binary uses a different part of this module.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::Criterion;
use sextant_benches::encode::{steady_state_requests, EncodedRequest, LoadSpec};
use sextant_metrics::db::{AppendOptions, TenantDb, TenantDbConfig};
use sextant_metrics::write::WriteBatch;

/// Series per request (= samples per request: one scrape round of every series).
pub const SERIES: usize = 2000;
/// Scrape rounds generated; benches that run longer replay them shifted forward in time.
pub const ROUNDS: usize = 120;
pub const MAX_DECOMPRESSED: usize = 32 << 20;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn interval_ms() -> i64 {
    LoadSpec::default().interval_ms
}

/// `rounds` requests of all [`SERIES`] series, ending 30 days ago, so that replays shifted
/// forward by whole cycles stay in the past (validation refuses samples from the future).
pub fn requests(rounds: usize) -> Vec<EncodedRequest> {
    let end = (now_ms() - 30 * 86_400_000) / interval_ms() * interval_ms();
    steady_state_requests(SERIES, rounds, end)
}

/// How far the `n`-th use of request `n % rounds` moves forward: whole cycles of `rounds`
/// intervals, so every series keeps increasing timestamps.
pub fn shift_for(n: u64, rounds: usize) -> i64 {
    (n / rounds as u64) as i64 * rounds as i64 * interval_ms()
}

/// Sets every sample's timestamp to its base plus `shift`.
pub fn set_timestamps(batch: &mut WriteBatch<'_>, base: &[i64], shift: i64) {
    for (s, b) in batch.samples.iter_mut().zip(base) {
        s.timestamp_ms = b + shift;
    }
}

pub fn append_options() -> AppendOptions {
    AppendOptions {
        max_series: 0,
        max_exemplars: 0,
        max_native_histogram_buckets: 0,
    }
}

/// A fresh tenant database with its WAL in a new tempdir (kept alive by the returned guard).
pub fn open_db() -> (TenantDb, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = TenantDbConfig {
        dir: dir.path().join("wal"),
        ..Default::default()
    };
    let (db, _) = TenantDb::open(config).expect("open tenant db");
    (db, dir)
}

/// Short runs: 2 cores are shared with builds.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}
