//! `sextant_distributor_*` self-metrics, registered on an injected registry.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use sextant_metrics::remote_write::Protocol;
use sextant_metrics::validation::{ValidationReason, ValidationReport};

use crate::metrics_push::{PushOutcome, PushReport};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignalLabels {
    signal: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceivedLabels {
    signal: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DiscardedLabels {
    signal: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    signal: &'static str,
    protocol: &'static str,
    status: u16,
}

pub(crate) struct DistributorMetrics {
    received: Family<ReceivedLabels, Counter>,
    discarded: Family<DiscardedLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    quorum_failures: Family<SignalLabels, Counter>,
    ingester_failures: Family<SignalLabels, Counter>,
    push_duration: Family<SignalLabels, Histogram>,
}

const METRICS: &str = "metrics";

impl DistributorMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let m = DistributorMetrics {
            received: Family::default(),
            discarded: Family::default(),
            requests: Family::default(),
            quorum_failures: Family::default(),
            ingester_failures: Family::default(),
            push_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0005, 2.0, 14))
            }),
        };
        let r = registry.sub_registry_with_prefix("sextant_distributor");
        r.register(
            "received_items",
            "Samples, histograms and exemplars accepted and replicated to a quorum, by kind.",
            m.received.clone(),
        );
        r.register(
            "discarded_items",
            "Samples, histograms and exemplars refused, by reason (validation ids, rate limit).",
            m.discarded.clone(),
        );
        r.register(
            "requests",
            "Push requests by protocol and HTTP status.",
            m.requests.clone(),
        );
        r.register(
            "quorum_failures",
            "Writes that failed because too few ingesters acknowledged them.",
            m.quorum_failures.clone(),
        );
        r.register(
            "ingester_push_failures",
            "Failed sends to one ingester (errors and timeouts).",
            m.ingester_failures.clone(),
        );
        r.register(
            "push_duration_seconds",
            "Time to answer a push request.",
            m.push_duration.clone(),
        );
        m
    }

    pub(crate) fn observe_push(&self, protocol: Protocol, report: &PushReport, took: Duration) {
        let status = match &report.error {
            None => 204,
            Some(e) => e.kind.http_status(),
        };
        let protocol = match protocol {
            Protocol::V1 => "1.0",
            Protocol::V2 => "2.0",
        };
        self.requests
            .get_or_create(&RequestLabels {
                signal: METRICS,
                protocol,
                status,
            })
            .inc();
        self.push_duration
            .get_or_create(&SignalLabels { signal: METRICS })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn count_received(&self, outcome: &PushOutcome) {
        for (kind, n) in [
            ("sample", outcome.samples),
            ("histogram", outcome.histograms),
            ("exemplar", outcome.exemplars),
        ] {
            if n > 0 {
                self.received
                    .get_or_create(&ReceivedLabels {
                        signal: METRICS,
                        kind,
                    })
                    .inc_by(n);
            }
        }
    }

    pub(crate) fn count_discarded(&self, report: &ValidationReport) {
        for reason in ValidationReason::ALL {
            let n = report.discarded_for(reason);
            if n > 0 {
                self.discarded
                    .get_or_create(&DiscardedLabels {
                        signal: METRICS,
                        reason: reason.id(),
                    })
                    .inc_by(n);
            }
        }
    }

    pub(crate) fn count_rate_limited(&self, n: u64) {
        self.discarded
            .get_or_create(&DiscardedLabels {
                signal: METRICS,
                reason: "err-sextant-tenant-max-ingestion-rate",
            })
            .inc_by(n);
    }

    pub(crate) fn count_quorum_failure(&self) {
        self.quorum_failures
            .get_or_create(&SignalLabels { signal: METRICS })
            .inc();
    }

    pub(crate) fn count_ingester_failure(&self) {
        self.ingester_failures
            .get_or_create(&SignalLabels { signal: METRICS })
            .inc();
    }
}
