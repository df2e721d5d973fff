//! The answer to a push once validated and replicated: what was written, the OTLP
//! `partial_success` of what was dropped, or the error (see the answers listed in
//! `traces_push.rs`).

use sextant_model::ErrorKind;
use sextant_proto::otlp::collector::trace::v1::ExportTracePartialSuccess;
use sextant_traces::push::ValidatedTraces;

use super::replicate::{IngesterRefusal, RefusalClass};
use super::{TracesPushOutcome, TracesPushReport};
use crate::error::DistributorError;

/// The answer to a push in which validation kept no span: 400 naming the fields, or 200 for a
/// push without any span (an empty export is valid OTLP).
pub(super) fn nothing_valid(validated: &ValidatedTraces) -> TracesPushReport {
    match validated.partial_success() {
        Some(partial) => TracesPushReport::failed(DistributorError::new(
            ErrorKind::BadRequest,
            format!("no valid span in the request: {}", partial.error_message),
        )),
        None => TracesPushReport::default(),
    }
}

/// How many of the accepted spans ingesters refused, per refusal. Each span went to its RF
/// replicas, which refuse alike: the spans a refusal counts (summed over the ingesters that
/// answered) are divided by the fan-out of those answers (spans sent to them / spans
/// accepted), rounding up. Ingesters that had not answered when the quorum was met count
/// for nothing.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct RefusedSpans {
    pub per_refusal: Vec<u64>,
    pub total: u64,
}

impl RefusedSpans {
    pub(super) fn estimate(refusals: &[IngesterRefusal], accepted: u64, answered: u64) -> Self {
        let per_refusal: Vec<u64> = refusals
            .iter()
            .map(|r| scale_up(r.spans, accepted, answered).min(accepted))
            .collect();
        let total = per_refusal.iter().sum::<u64>().min(accepted);
        RefusedSpans { per_refusal, total }
    }

    /// What reached the ingesters minus what they refused (traces and bytes in proportion).
    pub(super) fn written(&self, accepted: TracesPushOutcome) -> TracesPushOutcome {
        let spans = accepted.spans - self.total;
        TracesPushOutcome {
            traces: scale_up(accepted.traces, spans, accepted.spans),
            spans,
            bytes: scale_up(accepted.bytes, spans, accepted.spans),
        }
    }
}

/// `n * num / den` rounded up (0 when `den` is 0), without overflow.
fn scale_up(n: u64, num: u64, den: u64) -> u64 {
    if den == 0 {
        return 0;
    }
    let scaled = (u128::from(n) * u128::from(num)).div_ceil(u128::from(den));
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

/// The report of a push that met its quorum: 429 when ingesters refused spans for a limit
/// that clears later, else a partial success listing validation's and the ingesters'
/// refusals.
pub(super) fn answer(
    written: TracesPushOutcome,
    validated: &ValidatedTraces,
    refusals: &[IngesterRefusal],
    refused: &RefusedSpans,
) -> TracesPushReport {
    let limited: Vec<&str> = refusals
        .iter()
        .filter(|r| r.class == RefusalClass::Limited)
        .map(|r| r.message.as_str())
        .collect();
    if !limited.is_empty() {
        return TracesPushReport {
            written,
            partial_success: None,
            error: Some(DistributorError::new(
                ErrorKind::TooManyRequests,
                limited.join("; "),
            )),
        };
    }
    let mut partial = validated.partial_success().unwrap_or_default();
    let dropped = refusals.iter().zip(&refused.per_refusal);
    for (refusal, spans) in dropped.filter(|(r, _)| r.class == RefusalClass::Dropped) {
        if !partial.error_message.is_empty() {
            partial.error_message.push_str("; ");
        }
        partial.error_message.push_str(&format!(
            "{spans} spans refused ({}): {}",
            refusal.reason, refusal.message
        ));
        partial.rejected_spans = partial
            .rejected_spans
            .saturating_add(i64::try_from(*spans).unwrap_or(i64::MAX));
    }
    TracesPushReport {
        written,
        partial_success: (partial != ExportTracePartialSuccess::default()).then_some(partial),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use sextant_traces::push::{TracesRejection, TracesRejectionReason};

    use super::*;

    /// Refusals' spans, spans accepted, spans sent to the ingesters that answered; refused
    /// spans per refusal and in total.
    type Estimate<'a> = (&'a [u64], u64, u64, &'a [u64], u64);

    #[test]
    fn refused_spans_are_estimated_over_the_fan_out() {
        let refusal = |class, spans| IngesterRefusal {
            reason: "r",
            class,
            spans,
            message: String::new(),
        };
        let dropped = RefusalClass::Dropped;
        // (refusals' spans, accepted, spans sent to the ingesters that answered, per refusal,
        // total)
        let cases: &[Estimate<'_>] = &[
            (&[], 10, 30, &[], 0),
            // all three replicas refused the same 4 spans
            (&[12], 10, 30, &[4], 4),
            // one replica of three refused 4 spans: rounds up
            (&[4], 10, 30, &[2], 2),
            // a quorum of two answered, both refusing the same 4 spans
            (&[8], 10, 20, &[4], 4),
            (&[30, 30], 10, 30, &[10, 10], 10),
            (&[5], 10, 0, &[0], 0),
        ];
        for (spans, accepted, sent, per_refusal, total) in cases {
            let refusals: Vec<_> = spans.iter().map(|&n| refusal(dropped, n)).collect();
            let got = RefusedSpans::estimate(&refusals, *accepted, *sent);
            assert_eq!(got.per_refusal, *per_refusal, "{spans:?}");
            assert_eq!(got.total, *total, "{spans:?}");
        }
        let refused = RefusedSpans {
            per_refusal: vec![5],
            total: 5,
        };
        let accepted = TracesPushOutcome {
            traces: 4,
            spans: 10,
            bytes: 1000,
        };
        let want = TracesPushOutcome {
            traces: 2,
            spans: 5,
            bytes: 500,
        };
        assert_eq!(refused.written(accepted), want);
    }

    fn validated_with(rejected: &[(TracesRejectionReason, u64, &str)]) -> ValidatedTraces {
        ValidatedTraces {
            rejections: rejected
                .iter()
                .map(|&(reason, spans, message)| TracesRejection {
                    reason,
                    spans,
                    message: message.to_string(),
                })
                .collect(),
            ..ValidatedTraces::default()
        }
    }

    fn refusal(reason: &'static str, class: RefusalClass, message: &str) -> IngesterRefusal {
        IngesterRefusal {
            reason,
            class,
            spans: 0,
            message: message.to_string(),
        }
    }

    /// What [`answer`] should give: the error's kind and message, or the partial success.
    type Want<'a> = Result<Option<(i64, &'a str)>, (ErrorKind, &'a str)>;

    /// Name, validation's rejections, ingesters' refusals, refused spans each, answer.
    type AnswerCase<'a> = (
        &'a str,
        ValidatedTraces,
        Vec<IngesterRefusal>,
        Vec<u64>,
        Want<'a>,
    );

    #[test]
    fn answers_table() {
        let live = refusal(
            "live_traces_exceeded",
            RefusalClass::Limited,
            "LIVE (max_traces_per_user)",
        );
        let busy = refusal("ingester_limit", RefusalClass::Limited, "busy");
        let big = refusal(
            "trace_too_large",
            RefusalClass::Dropped,
            "TOO LARGE (max_bytes_per_trace)",
        );
        let bad_id = [(
            TracesRejectionReason::InvalidSpanId,
            2,
            "spans[0].spanId: bad",
        )];
        let cases: Vec<AnswerCase<'_>> = vec![
            ("all written", validated_with(&[]), vec![], vec![], Ok(None)),
            (
                "validation dropped spans",
                validated_with(&bad_id),
                vec![],
                vec![],
                Ok(Some((
                    2,
                    "2 spans refused (invalid_span_id): spans[0].spanId: bad",
                ))),
            ),
            (
                "validation and the ingesters dropped spans",
                validated_with(&bad_id),
                vec![big.clone()],
                vec![3],
                Ok(Some((
                    5,
                    "2 spans refused (invalid_span_id): spans[0].spanId: bad; \
                     3 spans refused (trace_too_large): TOO LARGE (max_bytes_per_trace)",
                ))),
            ),
            (
                "a limit that clears later wins over drops",
                validated_with(&bad_id),
                vec![big, live, busy],
                vec![1, 1, 1],
                Err((
                    ErrorKind::TooManyRequests,
                    "LIVE (max_traces_per_user); busy",
                )),
            ),
        ];
        for (name, validated, refusals, spans, want) in cases {
            let refused = RefusedSpans {
                total: spans.iter().sum(),
                per_refusal: spans,
            };
            let report = answer(
                TracesPushOutcome::default(),
                &validated,
                &refusals,
                &refused,
            );
            let got: Want<'_> = match &report.error {
                Some(e) => Err((e.kind, e.message.as_str())),
                None => Ok(report
                    .partial_success
                    .as_ref()
                    .map(|p| (p.rejected_spans, p.error_message.as_str()))),
            };
            assert_eq!(got, want, "{name}");
        }
    }
}
