//! The async half of a traces push: send every per-ingester request in parallel, answer once
//! every replica set reached its quorum (or cannot anymore), and collect what the ingesters
//! that took the push refused, per limit.
//!
//! An ingester that answers, even refusing some traces for a limit, took the push: it counts
//! towards the quorum. Its refusals decide the answer to the client (see [`RefusalClass`]).

use sextant_model::ErrorKind;
use sextant_proto::ingester::{TracesPushRequest, TracesPushResponse};

use super::TracesDistributor;
use crate::error::DistributorError;
use crate::push_common::{self, replicate, IngesterAnswer, QUORUM_FAILURE_ID};
use crate::replication::ReplicaPlan;

/// The limit whose refusals are answered as a partial success: a trace over it stays over it,
/// so retrying cannot help.
pub(super) const MAX_BYTES_PER_TRACE: &str = "max_bytes_per_trace";

/// How the client hears about spans an ingester refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RefusalClass {
    /// A limit that may clear later (live traces): 429 / `ResourceExhausted`, so that
    /// exporters retry.
    Limited,
    /// Dropped for good (trace too large): OTLP `partial_success`.
    Dropped,
}

/// The spans ingesters refused for one reason, summed over the ingesters (each replica of a
/// refused trace counts it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IngesterRefusal {
    /// The `reason` label of the discarded-spans counter (Tempo's reasons).
    pub reason: &'static str,
    pub class: RefusalClass,
    pub spans: u64,
    /// The first refusal's message (Tempo's wording, naming the limit).
    pub message: String,
}

/// What the ingesters that answered before the push met its quorum refused.
#[derive(Debug, Default)]
pub(super) struct IngesterAnswers {
    pub refusals: Vec<IngesterRefusal>,
    /// The spans sent to the ingesters that took the push: refusals are a part of these.
    pub answered_spans: u64,
}

/// The reason and class of a refusal for the limit named `limit` in an ingester's answer.
pub(super) fn classify(limit: &str) -> (&'static str, RefusalClass) {
    match limit {
        "max_traces_per_user" | "max_global_traces_per_user" => {
            ("live_traces_exceeded", RefusalClass::Limited)
        }
        MAX_BYTES_PER_TRACE => ("trace_too_large", RefusalClass::Dropped),
        _ => ("ingester_limit", RefusalClass::Limited),
    }
}

impl TracesDistributor {
    /// Sends every request and waits until each replica set met its quorum or cannot anymore.
    /// `spans[i]` is the span count of `requests[i]`.
    pub(super) async fn replicate(
        &self,
        plan: &ReplicaPlan,
        requests: Vec<TracesPushRequest>,
        spans: &[u64],
    ) -> Result<IngesterAnswers, DistributorError> {
        let sent = replicate(
            plan,
            requests,
            self.config.remote_timeout,
            |addr, request| self.clients.push(addr, request),
            |tally: &mut Tally, slot, addr, answer| {
                if tally.record(slot, addr, spans[slot], answer) {
                    self.metrics.push.count_ingester_failure();
                    tracing::debug!(addr = %addr, error = ?tally.last_error, "traces push to ingester failed");
                }
            },
        );
        sent.await.map_err(|missed| {
            self.metrics.push.count_quorum_failure();
            DistributorError::with_id(ErrorKind::Unavailable, QUORUM_FAILURE_ID, missed.message())
        })
    }
}

/// The answers of the ingesters of one push so far.
type Tally = push_common::Tally<IngesterAnswers>;

impl Tally {
    /// Records the answer of `slot`, which was sent `spans` spans; true when the send failed.
    fn record(
        &mut self,
        slot: usize,
        addr: &str,
        spans: u64,
        answer: IngesterAnswer<TracesPushResponse>,
    ) -> bool {
        let taken = match answer {
            Ok(response) => {
                for r in response.rejections {
                    let (reason, class) = classify(&r.limit);
                    let message = match r.message.is_empty() {
                        true => format!(
                            "ingester {addr} refused {} traces ({} spans) for {}",
                            r.traces, r.spans, r.limit
                        ),
                        false => r.message,
                    };
                    self.answers.add(reason, class, r.spans, message);
                }
                Ok(())
            }
            // The ingester refused the whole push for a limit or as invalid: it is up, and the
            // client must hear about it.
            Err((tonic::Code::ResourceExhausted, message)) => {
                let answers = &mut self.answers;
                answers.add("ingester_limit", RefusalClass::Limited, spans, message);
                Ok(())
            }
            Err((tonic::Code::InvalidArgument, message)) => {
                let answers = &mut self.answers;
                answers.add("ingester_refused", RefusalClass::Dropped, spans, message);
                Ok(())
            }
            Err((_, message)) => Err(message),
        };
        if taken.is_ok() {
            self.answers.answered_spans += spans;
        }
        self.settle(slot, addr, taken)
    }
}

impl IngesterAnswers {
    fn add(&mut self, reason: &'static str, class: RefusalClass, spans: u64, message: String) {
        match self.refusals.iter_mut().find(|r| r.reason == reason) {
            Some(refusal) => refusal.spans += spans,
            None => self.refusals.push(IngesterRefusal {
                reason,
                class,
                spans,
                message,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use sextant_proto::ingester::TracesRejection;

    use super::*;

    #[test]
    fn limits_classify_into_reasons() {
        let cases = [
            (
                "max_traces_per_user",
                "live_traces_exceeded",
                RefusalClass::Limited,
            ),
            (
                "max_global_traces_per_user",
                "live_traces_exceeded",
                RefusalClass::Limited,
            ),
            (
                "max_bytes_per_trace",
                "trace_too_large",
                RefusalClass::Dropped,
            ),
            ("something_new", "ingester_limit", RefusalClass::Limited),
        ];
        for (limit, reason, class) in cases {
            assert_eq!(classify(limit), (reason, class), "{limit}");
        }
    }

    fn rejection(limit: &str, spans: u64, message: &str) -> TracesRejection {
        TracesRejection {
            limit: limit.to_string(),
            traces: 1,
            spans,
            message: message.to_string(),
        }
    }

    #[test]
    fn tally_sums_refusals_per_reason_and_counts_refusing_ingesters_as_up() {
        let mut tally = Tally::new(4);
        let answer = |rejections| {
            Ok(TracesPushResponse {
                rejections,
                ..TracesPushResponse::default()
            })
        };
        let too_big = rejection(MAX_BYTES_PER_TRACE, 2, "TRACE_TOO_LARGE: first");
        let again = rejection(MAX_BYTES_PER_TRACE, 3, "TRACE_TOO_LARGE: second");
        let live = rejection("max_traces_per_user", 4, "");
        assert!(!tally.record(0, "a", 10, answer(vec![too_big])));
        assert!(!tally.record(1, "b", 10, answer(vec![again, live])));
        let exhausted = Err((tonic::Code::ResourceExhausted, "busy".to_string()));
        assert!(!tally.record(2, "c", 7, exhausted));
        let down = Err((tonic::Code::Unavailable, "refused".to_string()));
        assert!(tally.record(3, "d", 10, down));
        assert_eq!(tally.succeeded, [true, true, true, false]);
        assert_eq!(tally.last_error.as_deref(), Some("ingester d: refused"));
        assert_eq!(tally.answers.answered_spans, 27);
        let got: Vec<(&str, u64, &str)> = tally
            .answers
            .refusals
            .iter()
            .map(|r| (r.reason, r.spans, r.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("trace_too_large", 5, "TRACE_TOO_LARGE: first"),
                (
                    "live_traces_exceeded",
                    4,
                    "ingester b refused 1 traces (4 spans) for max_traces_per_user"
                ),
                ("ingester_limit", 7, "busy"),
            ]
        );
    }
}
