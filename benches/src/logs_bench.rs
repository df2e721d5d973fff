//! The measurements of `sextant-logs-bench` (see `benches/README.md`, section Logs):
//!
//! - [`ingest`]: Loki pushes (protobuf + snappy, pre-encoded) through what the distributor and
//!   the ingester do with them (decode, service name discovery, validation,
//!   `LogsTenantDb::append` with its WAL), one core; then the head cut into a block for the
//!   stored bytes per raw byte.
//! - [`haystack`]: about 1 GB of mixed logs built into blocks through the same database in
//!   batches, and a needle query (`|= "trace_id=<needle>"`) over them, read the way the
//!   querier reads (index, chunks, decompression, pipeline), against the line filter pushed
//!   down into the chunk reader.
//! - [`http`]: the whole HTTP path: pushes to a running Sextant's `/loki/api/v1/push`, and the
//!   CPU of the Sextant process meanwhile.
//! - [`report`]: the result (JSON) and the table printed.

pub mod haystack;
pub mod http;
pub mod ingest;
pub mod report;

#[cfg(test)]
mod tests;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::procfs;

/// Nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Wall and CPU time (of the calling thread) of a piece of work.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    wall: Instant,
    cpu_s: Option<f64>,
    ticks: f64,
}

impl Stopwatch {
    pub fn start(ticks: f64) -> Stopwatch {
        Stopwatch {
            wall: Instant::now(),
            cpu_s: procfs::thread_cpu_seconds(ticks).ok(),
            ticks,
        }
    }

    /// (wall seconds, CPU seconds of this thread) since [`Stopwatch::start`].
    pub fn elapsed(&self) -> (f64, Option<f64>) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = procfs::thread_cpu_seconds(self.ticks).ok();
        (wall, cpu.zip(self.cpu_s).map(|(b, a)| b - a))
    }
}

/// The `q`-quantile (0..=1) of samples, nearest rank (`None` when empty).
pub fn quantile(samples: &[f64], q: f64) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}
