//! Label, series and metadata reads of recent data (the head), for the querier.

use std::sync::Arc;

use sextant_metrics::db::TenantDb;
use sextant_model::{Matcher, TenantId, TimeRange};
use sextant_proto::ingester::{
    MetricsLabelsRequest, MetricsLabelsResponse, MetricsMetadataRequest, MetricsMetadataResponse,
    MetricsSeriesRequest, MetricsSeriesResponse,
};
use sextant_proto::prometheus::LabelMatcher;
use tonic::Status;

use super::convert::{metadata_to_wire, series_labels_to_wire};
use super::MetricsIngester;

pub(crate) fn parse_tenant(tenant: &str) -> Result<TenantId, Status> {
    TenantId::parse(tenant).map_err(|e| Status::invalid_argument(format!("invalid tenant: {e}")))
}

pub(crate) fn parse_matchers(matchers: &[LabelMatcher]) -> Result<Vec<Matcher>, Status> {
    matchers
        .iter()
        .map(sextant_proto::matcher_from_wire)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Status::invalid_argument(e.to_string()))
}

/// `limit` as a count; 0 (no limit) stays 0.
fn limit(limit: u64) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}

fn truncate(mut values: Vec<String>, max: u64) -> Vec<String> {
    if max > 0 {
        values.truncate(limit(max));
    }
    values
}

impl MetricsIngester {
    /// The tenant's open database; `None` when it has no data here.
    fn tenant_db(&self, tenant: &TenantId) -> Option<Arc<TenantDb>> {
        self.tenants.read().get(tenant).cloned()
    }

    /// Runs a read on a blocking thread (it walks series and decodes chunks).
    async fn read<T: Send + 'static>(
        &self,
        tenant: &str,
        read: impl FnOnce(&TenantDb) -> T + Send + 'static,
    ) -> Result<Option<T>, Status> {
        let Some(db) = self.tenant_db(&parse_tenant(tenant)?) else {
            return Ok(None);
        };
        tokio::task::spawn_blocking(move || read(&db))
            .await
            .map(Some)
            .map_err(|e| Status::internal(format!("read task failed: {e}")))
    }

    /// Label names of the matching series with data in the range, sorted.
    pub async fn label_names(
        &self,
        request: MetricsLabelsRequest,
    ) -> Result<MetricsLabelsResponse, Status> {
        let matchers = parse_matchers(&request.matchers)?;
        let range = TimeRange::new(request.start_ms, request.end_ms);
        let values = self
            .read(&request.tenant, move |db| db.label_names(range, &matchers))
            .await?
            .unwrap_or_default();
        Ok(MetricsLabelsResponse {
            values: truncate(values, request.limit),
        })
    }

    /// Values of `label_name` over the matching series with data in the range, sorted.
    pub async fn label_values(
        &self,
        request: MetricsLabelsRequest,
    ) -> Result<MetricsLabelsResponse, Status> {
        if request.label_name.is_empty() {
            return Err(Status::invalid_argument("label_name is required"));
        }
        let matchers = parse_matchers(&request.matchers)?;
        let range = TimeRange::new(request.start_ms, request.end_ms);
        let name = request.label_name;
        let values = self
            .read(&request.tenant, move |db| {
                db.label_values(&name, range, &matchers)
            })
            .await?
            .unwrap_or_default();
        Ok(MetricsLabelsResponse {
            values: truncate(values, request.limit),
        })
    }

    /// Label sets of the series matching any of the matcher sets, with data in the range.
    pub async fn series(
        &self,
        request: MetricsSeriesRequest,
    ) -> Result<MetricsSeriesResponse, Status> {
        let sets = request
            .matcher_sets
            .iter()
            .map(|set| parse_matchers(&set.matchers))
            .collect::<Result<Vec<_>, _>>()?;
        let range = TimeRange::new(request.start_ms, request.end_ms);
        let max = limit(request.limit);
        let series = self
            .read(&request.tenant, move |db| db.series(range, &sets, max))
            .await?
            .unwrap_or_default();
        Ok(MetricsSeriesResponse {
            series: series.iter().map(series_labels_to_wire).collect(),
        })
    }

    /// The latest metadata received per metric family.
    pub async fn metadata(
        &self,
        request: MetricsMetadataRequest,
    ) -> Result<MetricsMetadataResponse, Status> {
        let tenant = parse_tenant(&request.tenant)?;
        let metadata = self
            .tenant_db(&tenant)
            .map(|db| db.metadata(&request.metric, limit(request.limit)))
            .unwrap_or_default();
        Ok(MetricsMetadataResponse {
            metadata: metadata.into_iter().map(metadata_to_wire).collect(),
        })
    }
}
