//! The deletion request cache over an in-memory bucket that can fail its listings, and the
//! filtering of streams.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use sextant_logs::logql::eval::Entry;
use sextant_model::Labels;
use sextant_storage::LogDeletionStatus;

use super::testing::store_deletion_request;
use super::*;

const MS: i64 = 1_000_000;
const REFRESH: Duration = Duration::from_secs(30);

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

/// An in-memory bucket counting its listings, which fail while `fail` is set.
#[derive(Debug, Default)]
struct FlakyStore {
    inner: InMemory,
    fail: AtomicBool,
    lists: AtomicUsize,
}

impl fmt::Display for FlakyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flaky({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FlakyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            let error = object_store::Error::Generic {
                store: "flaky",
                source: "listing refused".into(),
            };
            return Box::pin(futures::stream::once(async { Err(error) }));
        }
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

struct Setup {
    store: Arc<FlakyStore>,
    deletions: LogsDeletions,
    registry: Registry,
}

fn setup() -> Setup {
    let store = Arc::new(FlakyStore::default());
    let mut registry = Registry::default();
    let deletions = LogsDeletions::new(store.clone(), REFRESH, &mut registry);
    Setup {
        store,
        deletions,
        registry,
    }
}

impl Setup {
    /// Stores a request of team-a deleting `query` in `[start_ms, end_ms]`.
    async fn request(&self, id: &str, query: &str, range_ms: (i64, i64)) {
        let t = tenant("team-a");
        store_deletion_request(
            &*self.store,
            &t,
            id,
            query,
            range_ms,
            LogDeletionStatus::Received,
        )
        .await;
    }

    /// How many requests apply to team-a's `[start_ms, end_ms)` at `now`.
    async fn applicable(&self, range_ms: (i64, i64), now: Instant) -> Result<usize, QuerierError> {
        let (start, end) = (range_ms.0 * MS, range_ms.1 * MS);
        let applied = self
            .deletions
            .applicable_at(&tenant("team-a"), start, end, now)
            .await?;
        Ok(applied.map_or(0, |a| a.overlapping.len()))
    }
}

#[tokio::test]
async fn only_requests_overlapping_the_range_apply() {
    let s = setup();
    assert_eq!(s.applicable((0, 100), Instant::now()).await.unwrap(), 0);
    s.request("a", r#"{app="web"}"#, (10, 20)).await;
    s.request("b", r#"{app="api"} |= "x""#, (50, 60)).await;
    s.request("bad", r#"{app="web"} | json"#, (0, 100)).await;
    let other = tenant("team-b");
    store_deletion_request(
        &*s.store,
        &other,
        "c",
        r#"{app="web"}"#,
        (0, 100),
        LogDeletionStatus::Processed,
    )
    .await;
    let now = Instant::now() + REFRESH;
    // [start ms, end ms) -> applicable requests (the invalid one never applies)
    let cases = [
        ((0, 10), 0),
        ((0, 11), 1),
        ((20, 50), 1),
        ((21, 50), 0),
        ((0, 100), 2),
        ((61, 100), 0),
    ];
    for (range, want) in cases {
        assert_eq!(s.applicable(range, now).await.unwrap(), want, "{range:?}");
    }
    let b = s.deletions.applicable_at(&other, 0, 100 * MS, now).await;
    assert!(b.unwrap().is_some(), "processed requests stay in force");
}

#[tokio::test]
async fn a_new_request_is_seen_after_the_refresh_interval() {
    let s = setup();
    let t0 = Instant::now();
    assert_eq!(s.applicable((0, 100), t0).await.unwrap(), 0);
    s.request("a", r#"{app="web"}"#, (10, 20)).await;
    let cases = [
        (Duration::ZERO, 0),
        (REFRESH - Duration::from_millis(1), 0),
        (REFRESH, 1),
    ];
    for (after, want) in cases {
        let got = s.applicable((0, 100), t0 + after).await.unwrap();
        assert_eq!(got, want, "{after:?} after the first read");
    }
    assert_eq!(s.store.lists.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failed_read_fails_unless_the_previous_list_is_recent() {
    let s = setup();
    let t0 = Instant::now();
    s.store.fail.store(true, Ordering::SeqCst);
    let err = s.applicable((0, 100), t0).await.unwrap_err();
    assert!(
        err.to_string().contains("log deletion requests of team-a"),
        "{err}"
    );
    s.store.fail.store(false, Ordering::SeqCst);
    s.request("a", r#"{app="web"}"#, (10, 20)).await;
    assert_eq!(s.applicable((0, 100), t0).await.unwrap(), 1);
    s.store.fail.store(true, Ordering::SeqCst);
    let stale = REFRESH * STALE_LISTING_FACTOR;
    // age of the previous list -> reused?
    let cases = [
        (REFRESH, true),
        (stale - Duration::from_millis(1), true),
        (stale, false),
    ];
    for (age, reused) in cases {
        let got = s.applicable((0, 100), t0 + age).await;
        match reused {
            true => assert_eq!(got.unwrap(), 1, "{age:?}"),
            false => assert!(got.is_err(), "{age:?}"),
        }
    }
}

#[tokio::test]
async fn concurrent_queries_share_one_read() {
    let s = setup();
    s.request("a", r#"{app="web"}"#, (10, 20)).await;
    let reads = (0..8).map(|_| s.applicable((0, 100), Instant::now()));
    for got in futures::future::join_all(reads).await {
        assert_eq!(got.unwrap(), 1);
    }
    assert_eq!(s.store.lists.load(Ordering::SeqCst), 1);
}

fn stream(app: &str, entries: &[(i64, &str)]) -> Stream {
    Stream {
        labels: Labels::from_pairs([("app", app)]),
        entries: entries
            .iter()
            .map(|&(ms, line)| Entry {
                ts_ns: ms * MS,
                line: line.into(),
                metadata: Labels::default(),
            })
            .collect(),
    }
}

#[test]
fn filtering_drops_selected_entries_and_emptied_streams() {
    let web = || {
        stream(
            "web",
            &[(10, "GET /a"), (15, "GET /secret"), (30, "GET /b")],
        )
    };
    let api = || stream("api", &[(12, "ok"), (18, "secret")]);
    // (queries with their [start ms, end ms], streams left as (app, ms of entries), dropped)
    type Case = (
        Vec<(&'static str, (i64, i64))>,
        Vec<(&'static str, Vec<i64>)>,
        u64,
    );
    let cases: Vec<Case> = vec![
        (
            vec![],
            vec![("web", vec![10, 15, 30]), ("api", vec![12, 18])],
            0,
        ),
        (
            vec![(r#"{app="web"}"#, (10, 20))],
            vec![("web", vec![30]), ("api", vec![12, 18])],
            2,
        ),
        (
            vec![(r#"{app=~".+"} |= "secret""#, (0, 100))],
            vec![("web", vec![10, 30]), ("api", vec![12])],
            2,
        ),
        (
            vec![(r#"{app="api"}"#, (0, 100)), (r#"{app="web"}"#, (30, 30))],
            vec![("web", vec![10, 15])],
            3,
        ),
        (
            vec![(r#"{app="db"}"#, (0, 100)), (r#"{app="web"}"#, (40, 50))],
            vec![("web", vec![10, 15, 30]), ("api", vec![12, 18])],
            0,
        ),
        (
            vec![
                (r#"{app="web"}"#, (0, 20)),
                (r#"{app="web"} |= "GET""#, (0, 100)),
            ],
            vec![("api", vec![12, 18])],
            3,
        ),
    ];
    for (queries, want, want_dropped) in cases {
        let filters: Vec<LogsDeletionFilter> = queries
            .iter()
            .map(|(q, (start, end))| LogsDeletionFilter::compile(q, *start, *end).unwrap())
            .collect();
        let refs: Vec<&LogsDeletionFilter> = filters.iter().collect();
        let (kept, dropped) = filter_streams(&refs, vec![web(), api()]);
        let got: Vec<(&str, Vec<i64>)> = kept
            .iter()
            .map(|s| {
                let app = s.labels.get("app").unwrap();
                (app, s.entries.iter().map(|e| e.ts_ns / MS).collect())
            })
            .collect();
        assert_eq!((got, dropped), (want, want_dropped), "{queries:?}");
    }
}

#[tokio::test]
async fn counts_the_entries_dropped() {
    let s = setup();
    s.request("a", r#"{app="web"} |= "secret""#, (0, 100)).await;
    let applied = s
        .deletions
        .applicable(&tenant("team-a"), 0, 100 * MS)
        .await
        .unwrap()
        .unwrap();
    let kept = applied.apply(vec![stream(
        "web",
        &[(1, "secret"), (2, "x"), (3, "secret")],
    )]);
    assert_eq!(kept[0].entries.len(), 1);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &s.registry).unwrap();
    let line = "sextant_querier_logs_deleted_entries_filtered_total 2";
    assert!(text.contains(line), "{line} not in\n{text}");
}
