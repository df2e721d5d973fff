//! The engine's synchronous [`Queryable`] over the async [`MetricsSource`]: each select blocks
//! the engine's thread on the runtime handle captured when the query started.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use sextant_metrics::promql::{EvalError, Queryable, SelectHints, Series};
use sextant_model::{Matcher, TenantId};
use tokio::runtime::Handle;

use crate::source::{MetricsSource, QuerierError};

/// One tenant's series for one query. Must be used from a blocking thread (not from inside
/// the runtime), as [`Handle::block_on`] requires.
pub struct SourceQueryable {
    source: Arc<dyn MetricsSource>,
    tenant: TenantId,
    handle: Handle,
    deadline: Instant,
    /// The first data-layer error, kept so the API reports it as the data layer phrased it
    /// rather than as the engine's [`EvalError`].
    source_error: Mutex<Option<QuerierError>>,
}

impl SourceQueryable {
    pub fn new(
        source: Arc<dyn MetricsSource>,
        tenant: TenantId,
        handle: Handle,
        deadline: Instant,
    ) -> Self {
        SourceQueryable {
            source,
            tenant,
            handle,
            deadline,
            source_error: Mutex::new(None),
        }
    }

    /// The first error the source returned, if any.
    pub fn take_source_error(&self) -> Option<QuerierError> {
        self.source_error.lock().take()
    }
}

impl Queryable for SourceQueryable {
    fn select(&self, hints: &SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, EvalError> {
        if Instant::now() >= self.deadline {
            return Err(EvalError::Timeout("query execution"));
        }
        let select = self.source.select(
            &self.tenant,
            hints.start_ms,
            hints.end_ms,
            matchers,
            hints.downsample,
        );
        self.handle.block_on(select).map_err(|e| {
            let converted = EvalError::from(e.clone());
            self.source_error.lock().get_or_insert(e);
            converted
        })
    }
}
