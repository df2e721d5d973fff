//! The traces write path's self-metrics (`sextant_distributor_traces_*`), registered on an
//! injected registry. Their names differ from the metrics and logs paths' so that all three
//! share one registry.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabels {
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    transport: &'static str,
    status: u16,
}

/// Tempo's reason for spans refused by the ingestion rate limit.
pub(crate) const RATE_LIMITED: &str = "rate_limited";

/// Counters and the push duration of the traces write path.
pub(crate) struct TracesDistributorMetrics {
    spans_received: Family<TransportLabels, Counter>,
    bytes_received: Family<TransportLabels, Counter>,
    spans_discarded: Family<ReasonLabels, Counter>,
    attributes_truncated: Counter,
    requests: Family<RequestLabels, Counter>,
    push_duration: Family<TransportLabels, Histogram>,
    quorum_failures: Counter,
    ingester_failures: Counter,
}

impl TracesDistributorMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let m = TracesDistributorMetrics {
            spans_received: Family::default(),
            bytes_received: Family::default(),
            spans_discarded: Family::default(),
            attributes_truncated: Counter::default(),
            requests: Family::default(),
            push_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0005, 2.0, 14))
            }),
            quorum_failures: Counter::default(),
            ingester_failures: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("sextant_distributor");
        let by_transport = [
            (
                "traces_received_spans",
                "Spans accepted and replicated to a quorum, by transport.",
                &m.spans_received,
            ),
            (
                "traces_received_bytes",
                "Span bytes (OTLP protobuf) accepted and replicated to a quorum, by transport.",
                &m.bytes_received,
            ),
        ];
        for (name, help, family) in by_transport {
            r.register(name, help, family.clone());
        }
        r.register(
            "traces_discarded_spans",
            "Spans refused, by reason (validation, rate_limited, live_traces_exceeded, \
             trace_too_large).",
            m.spans_discarded.clone(),
        );
        r.register(
            "traces_attributes_truncated",
            "Span, resource and scope attributes truncated to max_attribute_bytes.",
            m.attributes_truncated.clone(),
        );
        r.register(
            "traces_requests",
            "Traces push requests by transport and HTTP status.",
            m.requests.clone(),
        );
        r.register(
            "traces_push_duration_seconds",
            "Time to answer a traces push request, by transport.",
            m.push_duration.clone(),
        );
        r.register(
            "traces_quorum_failures",
            "Traces writes that failed because too few ingesters acknowledged them.",
            m.quorum_failures.clone(),
        );
        r.register(
            "traces_ingester_push_failures",
            "Failed traces sends to one ingester (errors and timeouts).",
            m.ingester_failures.clone(),
        );
        m
    }

    pub(crate) fn observe_push(&self, transport: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels { transport, status })
            .inc();
        self.push_duration
            .get_or_create(&TransportLabels { transport })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn count_received(&self, transport: &'static str, spans: u64, bytes: u64) {
        let labels = TransportLabels { transport };
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

    pub(crate) fn count_quorum_failure(&self) {
        self.quorum_failures.inc();
    }

    pub(crate) fn count_ingester_failure(&self) {
        self.ingester_failures.inc();
    }
}
