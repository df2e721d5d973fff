//! The traces write path's self-metrics (`sextant_distributor_traces_*`), registered on an
//! injected registry. Their names differ from the metrics and logs paths' so that all three
//! share one registry.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::instrumentation::{InputLabels, PushPathMetrics, PushPathNames, ReasonLabels};

/// Tempo's reason for spans refused by the ingestion rate limit.
pub(crate) const RATE_LIMITED: &str = "rate_limited";

/// Counters and the push duration of the traces write path.
pub(crate) struct TracesDistributorMetrics {
    spans_received: Family<InputLabels, Counter>,
    bytes_received: Family<InputLabels, Counter>,
    spans_discarded: Family<ReasonLabels, Counter>,
    attributes_truncated: Counter,
    pub push: PushPathMetrics,
}

impl TracesDistributorMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let spans_received = Family::default();
        let bytes_received = Family::default();
        let spans_discarded = Family::default();
        let attributes_truncated = Counter::default();
        let r = registry.sub_registry_with_prefix("sextant_distributor");
        let by_transport = [
            (
                "traces_received_spans",
                "Spans accepted and replicated to a quorum, by transport.",
                &spans_received,
            ),
            (
                "traces_received_bytes",
                "Span bytes (OTLP protobuf) accepted and replicated to a quorum, by transport.",
                &bytes_received,
            ),
        ];
        for (name, help, family) in by_transport {
            r.register(name, help, family.clone());
        }
        r.register(
            "traces_discarded_spans",
            "Spans refused, by reason (validation, rate_limited, live_traces_exceeded, \
             trace_too_large).",
            spans_discarded.clone(),
        );
        r.register(
            "traces_attributes_truncated",
            "Span, resource and scope attributes truncated to max_attribute_bytes.",
            attributes_truncated.clone(),
        );
        let names = PushPathNames {
            prefix: "traces_",
            noun: "traces",
            input: "transport",
        };
        TracesDistributorMetrics {
            spans_received,
            bytes_received,
            spans_discarded,
            attributes_truncated,
            push: PushPathMetrics::new(r, names),
        }
    }

    pub(crate) fn count_received(&self, transport: &'static str, spans: u64, bytes: u64) {
        let labels = self.push.input(transport);
        self.spans_received.get_or_create(&labels).inc_by(spans);
        self.bytes_received.get_or_create(&labels).inc_by(bytes);
    }

    pub(crate) fn count_discarded(&self, reason: &'static str, spans: u64) {
        if spans > 0 {
            self.spans_discarded
                .get_or_create(&ReasonLabels { reason })
                .inc_by(spans);
        }
    }

    pub(crate) fn count_truncated(&self, attributes: u64) {
        self.attributes_truncated.inc_by(attributes);
    }
}
