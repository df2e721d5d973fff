//! An `ObjectStore` wrapper that counts operations, failures, bytes and latency per operation.

mod upload;

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = [(&'static str, &'static str); 1];

/// Self-metrics of object storage, label `operation`.
#[derive(Debug, Clone)]
struct StoreMetrics {
    operations: Family<Labels, Counter>,
    failures: Family<Labels, Counter>,
    bytes: Family<Labels, Counter>,
    duration: Family<Labels, Histogram>,
}

impl StoreMetrics {
    fn new(registry: &mut Registry) -> Self {
        let metrics = StoreMetrics {
            operations: Family::default(),
            failures: Family::default(),
            bytes: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 4.0, 9))
            }),
        };
        registry.register(
            "sextant_storage_operations",
            "Object store operations.",
            metrics.operations.clone(),
        );
        registry.register(
            "sextant_storage_operation_failures",
            "Failed object store operations.",
            metrics.failures.clone(),
        );
        registry.register(
            "sextant_storage_operation_bytes",
            "Bytes written (put) and read (get) through the object store.",
            metrics.bytes.clone(),
        );
        registry.register(
            "sextant_storage_operation_duration_seconds",
            "Latency of object store operations that complete in one call.",
            metrics.duration.clone(),
        );
        metrics
    }

    fn count(&self, operation: &'static str, ok: bool) {
        self.operations
            .get_or_create(&[("operation", operation)])
            .inc();
        if !ok {
            self.failures
                .get_or_create(&[("operation", operation)])
                .inc();
        }
    }

    fn add_bytes(&self, operation: &'static str, bytes: u64) {
        self.bytes
            .get_or_create(&[("operation", operation)])
            .inc_by(bytes);
    }

    async fn track<T>(
        &self,
        operation: &'static str,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        let result = fut.await;
        self.duration
            .get_or_create(&[("operation", operation)])
            .observe(start.elapsed().as_secs_f64());
        self.count(operation, result.is_ok());
        result
    }
}

/// Wraps a store and records `sextant_storage_operations_total{operation}`,
/// `sextant_storage_operation_failures_total{operation}`,
/// `sextant_storage_operation_bytes_total{operation}` and
/// `sextant_storage_operation_duration_seconds{operation}`.
#[derive(Debug, Clone)]
pub struct InstrumentedStore {
    inner: Arc<dyn ObjectStore>,
    metrics: StoreMetrics,
}

impl InstrumentedStore {
    pub fn new(inner: Arc<dyn ObjectStore>, registry: &mut Registry) -> Self {
        InstrumentedStore {
            inner,
            metrics: StoreMetrics::new(registry),
        }
    }
}

impl fmt::Display for InstrumentedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instrumented({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for InstrumentedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let size = payload.content_length() as u64;
        let result = self
            .metrics
            .track("put", self.inner.put_opts(location, payload, opts))
            .await;
        if result.is_ok() {
            self.metrics.add_bytes("put", size);
        }
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let inner = self
            .metrics
            .track(
                "put_multipart",
                self.inner.put_multipart_opts(location, opts),
            )
            .await?;
        Ok(Box::new(upload::InstrumentedUpload::new(
            inner,
            self.metrics.bytes.clone(),
        )))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let operation = if options.head { "head" } else { "get" };
        let result = self
            .metrics
            .track(operation, self.inner.get_opts(location, options))
            .await?;
        if operation == "get" {
            self.metrics
                .add_bytes("get", result.range.end.saturating_sub(result.range.start));
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let result = self
            .metrics
            .track("get_ranges", self.inner.get_ranges(location, ranges))
            .await?;
        self.metrics
            .add_bytes("get_ranges", result.iter().map(|b| b.len() as u64).sum());
        Ok(result)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let metrics = self.metrics.clone();
        self.inner
            .delete_stream(locations)
            .inspect(move |result| metrics.count("delete", result.is_ok()))
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.counted_list("list", self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.counted_list("list", self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.metrics
            .track(
                "list_with_delimiter",
                self.inner.list_with_delimiter(prefix),
            )
            .await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.metrics
            .track("copy", self.inner.copy_opts(from, to, options))
            .await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.metrics
            .track("rename", self.inner.rename_opts(from, to, options))
            .await
    }
}

impl InstrumentedStore {
    /// Counts one `operation` per listing; a listing that yields an error counts as failed.
    fn counted_list(
        &self,
        operation: &'static str,
        stream: BoxStream<'static, Result<ObjectMeta>>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.metrics.count(operation, true);
        let metrics = self.metrics.clone();
        stream
            .inspect(move |result| {
                if result.is_err() {
                    metrics
                        .failures
                        .get_or_create(&[("operation", operation)])
                        .inc();
                }
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests;
