//! `sextant_distributor_*` self-metrics, registered on an injected registry.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder};
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
            push_duration: Family::new_with_constructor(push_duration_histogram),
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

/// The input label of a push path's metrics, `<name>="<value>"` (e.g. `format="loki"`,
/// `transport="otlp_grpc"`).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) struct InputLabels {
    name: &'static str,
    value: &'static str,
}

impl EncodeLabelSet for InputLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        (self.name, self.value).encode(encoder.encode_label())
    }
}

/// The input label and the HTTP status of a push request.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct InputStatusLabels {
    input: InputLabels,
    status: u16,
}

impl EncodeLabelSet for InputStatusLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.input.encode(encoder)?;
        ("status", self.status).encode(encoder.encode_label())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    pub reason: &'static str,
}

/// How a push path names its metrics: `sextant_distributor_<prefix>requests` and so on, with
/// `noun` in the help texts and `input` the name of the input label.
pub(crate) struct PushPathNames {
    pub prefix: &'static str,
    pub noun: &'static str,
    pub input: &'static str,
}

/// What the logs and traces push paths both count: requests by input and HTTP status, the
/// push duration by input, quorum failures and failed sends to one ingester.
pub(crate) struct PushPathMetrics {
    input: &'static str,
    requests: Family<InputStatusLabels, Counter>,
    push_duration: Family<InputLabels, Histogram>,
    quorum_failures: Counter,
    ingester_failures: Counter,
}

impl PushPathMetrics {
    /// Registers on `r` (the `sextant_distributor` sub-registry).
    pub(crate) fn new(r: &mut Registry, names: PushPathNames) -> Self {
        let m = PushPathMetrics {
            input: names.input,
            requests: Family::default(),
            push_duration: Family::new_with_constructor(push_duration_histogram),
            quorum_failures: Counter::default(),
            ingester_failures: Counter::default(),
        };
        let PushPathNames {
            prefix,
            noun,
            input,
        } = names;
        let title = noun[..1].to_uppercase() + &noun[1..];
        r.register(
            format!("{prefix}requests"),
            format!("{title} push requests by {input} and HTTP status."),
            m.requests.clone(),
        );
        r.register(
            format!("{prefix}push_duration_seconds"),
            format!("Time to answer a {noun} push request, by {input}."),
            m.push_duration.clone(),
        );
        r.register(
            format!("{prefix}quorum_failures"),
            format!("{title} writes that failed because too few ingesters acknowledged them."),
            m.quorum_failures.clone(),
        );
        r.register(
            format!("{prefix}ingester_push_failures"),
            format!("Failed {noun} sends to one ingester (errors and timeouts)."),
            m.ingester_failures.clone(),
        );
        m
    }

    /// The input label `value` (a push format or transport).
    pub(crate) fn input(&self, value: &'static str) -> InputLabels {
        InputLabels {
            name: self.input,
            value,
        }
    }

    pub(crate) fn observe_push(&self, input: &'static str, status: u16, took: Duration) {
        let input = self.input(input);
        self.push_duration
            .get_or_create(&input)
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&InputStatusLabels { input, status })
            .inc();
    }

    pub(crate) fn count_quorum_failure(&self) {
        self.quorum_failures.inc();
    }

    pub(crate) fn count_ingester_failure(&self) {
        self.ingester_failures.inc();
    }
}

/// The buckets of every push duration histogram: 0.5 ms to about 4 s.
fn push_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

/// The logs write path's self-metrics (`sextant_distributor_log_*`). Their names differ from
/// the metrics path's so that both can share one registry.
pub(crate) struct LogsDistributorMetrics {
    entries_received: Family<InputLabels, Counter>,
    bytes_received: Family<InputLabels, Counter>,
    entries_discarded: Family<ReasonLabels, Counter>,
    bytes_discarded: Family<ReasonLabels, Counter>,
    pub push: PushPathMetrics,
}

/// Loki's reason for pushes refused by the ingestion rate limit.
pub(crate) const RATE_LIMITED: &str = "rate_limited";

impl LogsDistributorMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let entries_received = Family::default();
        let bytes_received = Family::default();
        let entries_discarded = Family::default();
        let bytes_discarded = Family::default();
        let r = registry.sub_registry_with_prefix("sextant_distributor");
        let families = [
            (
                "log_entries_received",
                "Log entries accepted and replicated to a quorum, by push format.",
                &entries_received,
            ),
            (
                "log_bytes_received",
                "Log line bytes accepted and replicated to a quorum, by push format.",
                &bytes_received,
            ),
        ];
        for (name, help, family) in families {
            r.register(name, help, family.clone());
        }
        let families = [
            (
                "log_entries_discarded",
                "Log entries refused, by Loki's reason (validation, rate_limited).",
                &entries_discarded,
            ),
            (
                "log_bytes_discarded",
                "Log line and structured metadata bytes refused, by Loki's reason.",
                &bytes_discarded,
            ),
        ];
        for (name, help, family) in families {
            r.register(name, help, family.clone());
        }
        let names = PushPathNames {
            prefix: "log_",
            noun: "logs",
            input: "format",
        };
        LogsDistributorMetrics {
            entries_received,
            bytes_received,
            entries_discarded,
            bytes_discarded,
            push: PushPathMetrics::new(r, names),
        }
    }

    pub(crate) fn count_received(&self, format: &'static str, entries: u64, bytes: u64) {
        let labels = self.push.input(format);
        self.entries_received.get_or_create(&labels).inc_by(entries);
        self.bytes_received.get_or_create(&labels).inc_by(bytes);
    }

    pub(crate) fn count_discarded(&self, reason: &'static str, entries: u64, bytes: u64) {
        let labels = ReasonLabels { reason };
        self.entries_discarded
            .get_or_create(&labels)
            .inc_by(entries);
        self.bytes_discarded.get_or_create(&labels).inc_by(bytes);
    }
}
