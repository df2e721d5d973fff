//! The querier: reads recent data from the ingesters and older data from blocks in object
//! storage, merges them (one copy of each sample), evaluates PromQL and serves the Prometheus
//! HTTP API under `/prometheus/api/v1/`.
//!
//! - [`source`]: [`MetricsSource`], what the API needs from the data layer.
//! - [`api`]: the Prometheus HTTP API over any [`MetricsSource`].
//! - [`loki_api`]: the Loki HTTP API over any [`LogsSource`] (LogQL on a blocking thread).
//! - [`tempo_api`]: the Tempo HTTP API over any [`TracesSource`] (trace by ID, TraceQL
//!   search, tag autocomplete), and [`MemTracesSource`] for tests and wiring.
//! - [`querier`](mod@querier): [`Querier`], the data layer: decides per call which sources to
//!   ask (`query_ingesters_within`, `query_store_after`), asks them concurrently and merges.
//! - [`ingesters`]: the fan-out to every healthy ingester of a ring with its failure budget
//!   and the clock judging heartbeats, generic over the signal's client trait:
//!   [`IngesterQueryClients`] for metrics (tonic clients in the server, fakes in tests);
//!   `ingesters/fakes.rs` is the pool of fake ingesters and the ring every querier's tests
//!   use.
//! - [`logs_querier`]: [`LogsQuerier`], the [`LogsSource`] over the `ingester-logs` ring
//!   behind [`LogsIngesterQueryClients`]: replica entries merged once, unions of labels and
//!   series, stats scaled by the replication (ingesters only); with
//!   [`LogsQuerier::with_blocks`] also the logs blocks in object storage (`logs_blocks`:
//!   logs bucket index, parsed-index cache, byte-range chunk reads).
//! - `logs_deletions`: the tenants' log deletion requests, cached and compiled, dropping the
//!   entries they select from the logs querier's `select` (Loki's `filter-and-delete`).
//! - [`traces_querier`]: [`TracesQuerier`], the [`TracesSource`] over the `ingester-traces`
//!   ring behind [`TracesIngesterQueryClients`]: fragments of a trace merged with each span
//!   once, search results combined per trace (Tempo's combiner), tag unions; with
//!   [`TracesQuerier::with_blocks`] also the traces blocks (`traces_blocks`: page index,
//!   bloom and search column caches, candidate pages read by byte range).
//! - `blocks`: block discovery (`blocks/catalog.rs`), the parsed-index cache
//!   (`blocks/index_cache.rs`), opening any signal's blocks (`blocks/opener.rs`),
//!   byte-range chunk reads (`blocks/read.rs`), which resolution answers each span
//!   (`blocks/resolution.rs`: raw reads ignore downsampled blocks) and reading downsampled
//!   aggregates (`blocks/downsampled.rs`).
//! - `merge`: one series per label set, one sample per timestamp; sorted unions.
//! - `wire`: ingester wire messages to engine types.
//! - [`config`]: [`QuerierConfig`]; `instrumentation`: `sextant_querier_*` self-metrics
//!   (the logs and traces block readers share `BlockReadCounters`).
//!
//! Tests: unit tests beside each module; `querier/tests.rs` runs the whole data layer over
//! fake ingesters and blocks in `object_store::memory::InMemory`; `logs_querier/tests.rs` runs
//! the logs querier (and the Loki API over it) over in-memory logs ingesters
//! (`cargo test -p sextant-querier`).

pub mod api;
mod blocks;
pub mod config;
pub mod ingesters;
mod instrumentation;
mod logs_blocks;
mod logs_deletions;
pub mod logs_querier;
pub mod loki_api;
mod merge;
pub mod querier;
pub mod ruler_proxy;
pub mod source;
pub mod tempo_api;
mod traces_blocks;
pub mod traces_querier;
pub mod traces_source;
mod wire;

pub use config::QuerierConfig;
pub use ingesters::{IngesterQueryClients, RingSnapshot};
pub use logs_querier::{LogsIngesterQueryClients, LogsQuerier};
pub use loki_api::{loki_api_router, LogsSource, LokiApiConfig, LokiApiState, MemLogsSource};
pub use querier::{Clock, Querier};
pub use ruler_proxy::ruler_proxy_router;
pub use source::{MetadataEntry, MetricsSource, QuerierError};
pub use tempo_api::{tempo_api_router, MemTracesSource, TempoApiState};
pub use traces_querier::{TracesIngesterQueryClients, TracesQuerier};
pub use traces_source::{
    TracesSearchOutcome, TracesSearchParams, TracesSource, TracesTagScope, TracesTagValue,
};
