//! The CPU half of a logs push: decode, discover `service_name`, validate, hash every stream
//! onto the ring and build one `logproto.PushRequest` per ingester. Runs on the blocking pool.

use sextant_logs::model::LogBatch;
use sextant_logs::push::{
    decode_loki_push, decode_otlp_logs, discover_service_name, otlp_logs_to_batch, stream_to_proto,
    validate, LogsValidationLimits, OtlpLogsConfig, PushError, Rejection,
};
use sextant_metrics::write::LabelRef;
use sextant_model::limits::TenantLogsLimits;
use sextant_model::{Labels, TenantId};
use sextant_proto::logproto::PushRequest;
use sextant_ring::TokenRing;

use super::{LogsPushInput, LogsPushOutcome};
use crate::error::DistributorError;
use crate::metrics_push::shard_token;
use crate::replication::ReplicaPlan;

/// The CPU half's result: what to send where, and what validation refused.
pub(super) struct PreparedLogs {
    pub plan: ReplicaPlan,
    /// One request per `plan.destinations` entry.
    pub requests: Vec<PushRequest>,
    /// What validation accepted.
    pub accepted: LogsPushOutcome,
    pub rejections: Vec<Rejection>,
}

/// Where a push is prepared: the tenant, its limits and the ring at one instant.
pub(super) struct PrepareContext<'a> {
    pub tenant: &'a TenantId,
    pub limits: &'a TenantLogsLimits,
    pub ring: &'a TokenRing,
    pub max_decompressed: usize,
    pub now_ns: i64,
}

/// Decode, validate, route and build the per-ingester requests.
pub(super) fn prepare_blocking(
    input: LogsPushInput,
    cx: &PrepareContext<'_>,
) -> Result<PreparedLogs, DistributorError> {
    let batch = decode(input, cx.max_decompressed, cx.limits).map_err(decode_error)?;
    let (batch, rejections) = validate(batch, &validation_limits(cx.limits), cx.now_ns);
    let accepted = LogsPushOutcome {
        entries: batch.entries() as u64,
        bytes: batch.line_bytes() as u64,
    };
    let tokens = (batch.streams.iter()).map(|stream| stream_token(cx.tenant, &stream.labels));
    let plan = ReplicaPlan::route(cx.ring, cx.now_ns / 1_000_000, tokens)?;
    let requests = plan
        .destinations
        .iter()
        .map(|dest| PushRequest {
            streams: dest
                .series
                .iter()
                .map(|&i| stream_to_proto(&batch.streams[i as usize]))
                .collect(),
            format: String::new(),
        })
        .collect();
    Ok(PreparedLogs {
        plan,
        requests,
        accepted,
        rejections,
    })
}

fn decode(
    input: LogsPushInput,
    max_decompressed: usize,
    limits: &TenantLogsLimits,
) -> Result<LogBatch, PushError> {
    let otlp = OtlpLogsConfig {
        resource_attributes_as_labels: limits.otlp_resource_attributes_as_labels.clone(),
        discover_service_name: limits.discover_service_name.clone(),
    };
    match input {
        LogsPushInput::Loki {
            content_type,
            content_encoding,
            body,
        } => {
            let mut batch = decode_loki_push(
                content_type.as_deref(),
                content_encoding.as_deref(),
                &body,
                max_decompressed,
            )?;
            discover_service_name(&mut batch, &limits.discover_service_name);
            Ok(batch)
        }
        LogsPushInput::Otlp {
            content_type,
            content_encoding,
            body,
        } => decode_otlp_logs(
            content_type.as_deref(),
            content_encoding.as_deref(),
            &body,
            max_decompressed,
            &otlp,
        ),
        LogsPushInput::OtlpRequest(request) => Ok(otlp_logs_to_batch(request, &otlp)),
    }
}

fn decode_error(e: PushError) -> DistributorError {
    DistributorError::new(e.kind(), e.to_string())
}

/// The tenant's logs limits as the validator wants them.
pub(super) fn validation_limits(limits: &TenantLogsLimits) -> LogsValidationLimits {
    LogsValidationLimits {
        max_line_size: limits.max_line_size,
        max_line_size_truncate: limits.max_line_size_truncate,
        max_label_names_per_series: limits.max_label_names_per_series,
        max_label_name_length: limits.max_label_name_length,
        max_label_value_length: limits.max_label_value_length,
        reject_old_samples: limits.reject_old_samples,
        reject_old_samples_max_age: limits.reject_old_samples_max_age,
        creation_grace_period: limits.creation_grace_period,
        allow_structured_metadata: limits.allow_structured_metadata,
        max_structured_metadata_size: limits.max_structured_metadata_size,
        max_structured_metadata_entries_count: limits.max_structured_metadata_entries_count,
    }
}

/// The ring token of a stream: the same hash as a metrics series (tenant and sorted labels).
pub(super) fn stream_token(tenant: &TenantId, labels: &Labels) -> u32 {
    let refs: Vec<LabelRef<'_>> = labels
        .iter()
        .map(|l| LabelRef {
            name: &l.name,
            value: &l.value,
        })
        .collect();
    shard_token(tenant, &refs)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn validation_limits_carry_every_tenant_limit() {
        let defaults = validation_limits(&TenantLogsLimits::default());
        assert_eq!(defaults, LogsValidationLimits::default());
        let custom = TenantLogsLimits {
            max_line_size: 10,
            max_line_size_truncate: true,
            max_label_names_per_series: 3,
            max_label_name_length: 4,
            max_label_value_length: 5,
            reject_old_samples: false,
            reject_old_samples_max_age: Duration::from_secs(6),
            creation_grace_period: Duration::from_secs(7),
            allow_structured_metadata: false,
            max_structured_metadata_size: 8,
            max_structured_metadata_entries_count: 9,
            ..TenantLogsLimits::default()
        };
        let want = LogsValidationLimits {
            max_line_size: 10,
            max_line_size_truncate: true,
            max_label_names_per_series: 3,
            max_label_name_length: 4,
            max_label_value_length: 5,
            reject_old_samples: false,
            reject_old_samples_max_age: Duration::from_secs(6),
            creation_grace_period: Duration::from_secs(7),
            allow_structured_metadata: false,
            max_structured_metadata_size: 8,
            max_structured_metadata_entries_count: 9,
        };
        assert_eq!(validation_limits(&custom), want);
    }

    #[test]
    fn stream_token_depends_on_tenant_and_labels() {
        let a = TenantId::parse("a").unwrap();
        let b = TenantId::parse("b").unwrap();
        let labels = |app: &str| Labels::from_pairs([("app", app), ("env", "prod")]);
        let token = stream_token(&a, &labels("api"));
        let cases = [
            (stream_token(&a, &labels("api")), true),
            (stream_token(&b, &labels("api")), false),
            (stream_token(&a, &labels("web")), false),
        ];
        for (i, (other, same)) in cases.into_iter().enumerate() {
            assert_eq!(token == other, same, "case {i}");
        }
    }
}
