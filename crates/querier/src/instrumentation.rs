//! `sextant_querier_*` self-metrics, registered on an injected registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::blocks::opener::BlockOpenMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    signal: &'static str,
    operation: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FileLabels {
    signal: &'static str,
    file: &'static str,
    /// `raw`, `5m`, `1h` (downsampled blocks), `other`.
    resolution: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignalLabels {
    signal: &'static str,
}

const METRICS: &str = "metrics";
const LOGS: &str = "logs";
const TRACES: &str = "traces";

/// Requests sent to the ingesters of one signal, by operation and outcome. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct IngesterRequests {
    signal: &'static str,
    family: Family<RequestLabels, Counter>,
}

impl IngesterRequests {
    /// `sextant_querier_logs_ingester_requests_total{signal="logs",operation,status}`: the
    /// logs querier's counter, a family of its own so that it can share a registry with the
    /// metrics querier's `sextant_querier_ingester_requests_total` (same labels).
    pub(crate) fn register_logs(registry: &mut Registry) -> Self {
        let family = Family::default();
        registry.register(
            "sextant_querier_logs_ingester_requests",
            "Requests sent to logs ingesters, by operation and outcome.",
            family.clone(),
        );
        IngesterRequests {
            signal: LOGS,
            family,
        }
    }

    /// `sextant_querier_traces_ingester_requests_total{signal="traces",operation,status}`:
    /// the traces querier's counter, like the logs one.
    pub(crate) fn register_traces(registry: &mut Registry) -> Self {
        let family = Family::default();
        registry.register(
            "sextant_querier_traces_ingester_requests",
            "Requests sent to traces ingesters, by operation and outcome.",
            family.clone(),
        );
        IngesterRequests {
            signal: TRACES,
            family,
        }
    }

    pub(crate) fn record(&self, operation: &'static str, ok: bool) {
        let status = if ok { "success" } else { "failure" };
        self.family
            .get_or_create(&RequestLabels {
                signal: self.signal,
                operation,
                status,
            })
            .inc();
    }
}

/// What the querier's data layer counts. Cheap to clone (counters are shared).
#[derive(Clone, Debug)]
pub(crate) struct QuerierMetrics {
    ingester_requests: IngesterRequests,
    blocks_opened: Family<SignalLabels, Counter>,
    fetched_bytes: Family<FileLabels, Counter>,
    index_cache_hits: Family<SignalLabels, Counter>,
    index_cache_misses: Family<SignalLabels, Counter>,
}

impl QuerierMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let m = QuerierMetrics {
            ingester_requests: IngesterRequests {
                signal: METRICS,
                family: Family::default(),
            },
            blocks_opened: Family::default(),
            fetched_bytes: Family::default(),
            index_cache_hits: Family::default(),
            index_cache_misses: Family::default(),
        };
        registry.register(
            "sextant_querier_ingester_requests",
            "Requests sent to ingesters, by operation and outcome.",
            m.ingester_requests.family.clone(),
        );
        registry.register(
            "sextant_querier_blocks_opened",
            "Blocks whose index a query consulted.",
            m.blocks_opened.clone(),
        );
        registry.register(
            "sextant_querier_fetched_bytes",
            "Bytes read from object storage, by block file and block resolution.",
            m.fetched_bytes.clone(),
        );
        registry.register(
            "sextant_querier_index_cache_hits",
            "Block index lookups answered from memory.",
            m.index_cache_hits.clone(),
        );
        registry.register(
            "sextant_querier_index_cache_misses",
            "Block index lookups that had to fetch and parse the index.",
            m.index_cache_misses.clone(),
        );
        m
    }

    /// The counter of requests to the metrics ingesters.
    pub(crate) fn ingester_requests(&self) -> IngesterRequests {
        self.ingester_requests.clone()
    }

    pub(crate) fn block_opened(&self) {
        self.blocks_opened
            .get_or_create(&SignalLabels { signal: METRICS })
            .inc();
    }

    /// Bytes read from `file` of blocks of resolution `resolution_ms` (0 = raw).
    pub(crate) fn fetched(&self, file: &'static str, bytes: u64, resolution_ms: i64) {
        self.fetched_bytes
            .get_or_create(&FileLabels {
                signal: METRICS,
                file,
                resolution: resolution_label(resolution_ms),
            })
            .inc_by(bytes);
    }

    pub(crate) fn index_cache(&self, hit: bool) {
        let family = if hit {
            &self.index_cache_hits
        } else {
            &self.index_cache_misses
        };
        family
            .get_or_create(&SignalLabels { signal: METRICS })
            .inc();
    }
}

/// The bounded `resolution` label of a block resolution.
fn resolution_label(resolution_ms: i64) -> &'static str {
    use sextant_metrics::downsample::{RESOLUTION_1H_MS, RESOLUTION_5M_MS};
    match resolution_ms {
        0 => "raw",
        RESOLUTION_5M_MS => "5m",
        RESOLUTION_1H_MS => "1h",
        _ => "other",
    }
}

/// A signal's block read counters (logs, traces): one counter each, named by the signal
/// under its own prefix. Cheap to clone (counters are shared).
#[derive(Clone, Debug, Default)]
pub(crate) struct BlockReadCounters {
    blocks_opened: Counter,
    fetched_bytes: Counter,
    cache_hits: Counter,
    cache_misses: Counter,
}

/// The `(name, help)` of each of a signal's [`BlockReadCounters`], under `prefix`.
pub(crate) struct BlockReadCounterNames {
    /// `sextant_querier_logs`.
    pub(crate) prefix: &'static str,
    pub(crate) blocks_opened: (&'static str, &'static str),
    pub(crate) fetched_bytes: (&'static str, &'static str),
    pub(crate) cache_hits: (&'static str, &'static str),
    pub(crate) cache_misses: (&'static str, &'static str),
}

impl BlockReadCounters {
    pub(crate) fn register(registry: &mut Registry, names: &BlockReadCounterNames) -> Self {
        let m = BlockReadCounters::default();
        let r = registry.sub_registry_with_prefix(names.prefix);
        let counters = [
            (names.blocks_opened, &m.blocks_opened),
            (names.fetched_bytes, &m.fetched_bytes),
            (names.cache_hits, &m.cache_hits),
            (names.cache_misses, &m.cache_misses),
        ];
        for ((name, help), counter) in counters {
            r.register(name, help, counter.clone());
        }
        m
    }
}

impl BlockOpenMetrics for BlockReadCounters {
    fn block_opened(&self) {
        self.blocks_opened.inc();
    }

    fn index_cache(&self, hit: bool) {
        match hit {
            true => self.cache_hits.inc(),
            false => self.cache_misses.inc(),
        };
    }

    fn fetched(&self, _file: &'static str, bytes: u64) {
        self.fetched_bytes.inc_by(bytes);
    }
}
