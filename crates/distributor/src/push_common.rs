//! What the write paths of every signal share: the clock, running the CPU half of a push on
//! the blocking pool, and the async half's fan-out (send every per-ingester request in
//! parallel, answer once every replica set reached its quorum, or cannot anymore).
//!
//! What an ingester's answer means differs per signal (refused entries, refused traces per
//! limit, a refused remote-write body), so the fan-out hands each answer to the caller, which
//! records it in the `answers` of a [`Tally`] and settles the send as taken or failed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use sextant_model::ErrorKind;

use crate::error::DistributorError;
use crate::replication::ReplicaPlan;

/// The id of the error answered when a replica set missed its quorum (HTTP 500 on the logs
/// path as in Loki; `Unavailable` over OTLP gRPC, so that exporters retry).
pub(crate) const QUORUM_FAILURE_ID: &str = "err-sextant-ingester-quorum";

/// Unix time in nanoseconds (0 before the epoch, saturating far after it).
pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Unix time in milliseconds (0 before the epoch, saturating far after it).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Runs the CPU half of a push on the blocking pool; a panicked task is an internal error.
pub(crate) async fn run_blocking<T, F>(prepare: F) -> Result<T, DistributorError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, DistributorError> + Send + 'static,
{
    tokio::task::spawn_blocking(prepare)
        .await
        .map_err(|e| DistributorError::new(ErrorKind::Internal, format!("push task failed: {e}")))?
}

/// One ingester's answer: its response, or the gRPC code and message of the failure (timeouts
/// are `DeadlineExceeded`).
pub(crate) type IngesterAnswer<R> = Result<R, (tonic::Code, String)>;

/// The answers of the ingesters of one push so far: which sends were taken, which finished,
/// the last failure, and what the signal collects from the answers (`answers`).
#[derive(Debug)]
pub(crate) struct Tally<A> {
    pub succeeded: Vec<bool>,
    finished: Vec<bool>,
    pub last_error: Option<String>,
    pub answers: A,
}

impl<A: Default> Tally<A> {
    pub(crate) fn new(n: usize) -> Self {
        Tally {
            succeeded: vec![false; n],
            finished: vec![false; n],
            last_error: None,
            answers: A::default(),
        }
    }
}

impl<A> Tally<A> {
    /// Finishes the send of `slot` to `addr`: taken by the ingester (it counts towards the
    /// quorum), or failed with `Err(message)`. True when it failed.
    pub(crate) fn settle(&mut self, slot: usize, addr: &str, taken: Result<(), String>) -> bool {
        self.finished[slot] = true;
        match taken {
            Ok(()) => {
                self.succeeded[slot] = true;
                false
            }
            Err(message) => {
                self.last_error = Some(format!("ingester {addr}: {message}"));
                true
            }
        }
    }

    /// Which sends could still succeed: the succeeded ones and those not answered yet.
    pub(crate) fn optimistic(&self) -> Vec<bool> {
        self.succeeded
            .iter()
            .zip(&self.finished)
            .map(|(&ok, &done)| ok || !done)
            .collect()
    }
}

/// A push that cannot reach its quorum anymore, with what the answers so far collected.
#[derive(Debug)]
pub(crate) struct QuorumMissed<A> {
    /// The last failure (`ingester <addr>: <message>`), or `unknown error`.
    pub detail: String,
    pub answers: A,
}

impl<A> QuorumMissed<A> {
    /// The message the client reads.
    pub(crate) fn message(&self) -> String {
        format!(
            "failed to reach a quorum of ingesters for the write: {}",
            self.detail
        )
    }
}

/// Sends `requests[i]` to `plan.destinations[i]` with `send`, each within `timeout`, and waits
/// until every replica set met its quorum or cannot anymore. `record` files every answer in
/// the tally (and must [`Tally::settle`] its slot). A spawned task finishes delivering even
/// after the client was answered.
pub(crate) async fn replicate<Q, R, A>(
    plan: &ReplicaPlan,
    requests: Vec<Q>,
    timeout: Duration,
    send: impl Fn(&str, Q) -> BoxFuture<'static, Result<R, tonic::Status>>,
    mut record: impl FnMut(&mut Tally<A>, usize, &str, IngesterAnswer<R>),
) -> Result<A, QuorumMissed<A>>
where
    R: Send + 'static,
    A: Default,
{
    let mut pending = FuturesUnordered::new();
    for (slot, request) in requests.into_iter().enumerate() {
        let sent = send(&plan.destinations[slot].addr, request);
        let task = tokio::spawn(async move { tokio::time::timeout(timeout, sent).await });
        pending.push(async move { (slot, task.await) });
    }
    let mut tally = Tally::new(plan.destinations.len());
    while let Some((slot, joined)) = pending.next().await {
        let answer = match joined {
            Ok(Ok(answer)) => answer.map_err(|s| (s.code(), s.message().to_string())),
            Ok(Err(_elapsed)) => Err((
                tonic::Code::DeadlineExceeded,
                format!("no answer within {timeout:?}"),
            )),
            Err(join) => Err((tonic::Code::Internal, join.to_string())),
        };
        record(&mut tally, slot, &plan.destinations[slot].addr, answer);
        if plan.quorum_met(&tally.succeeded) {
            return Ok(tally.answers);
        }
        if !plan.quorum_met(&tally.optimistic()) {
            return Err(QuorumMissed {
                detail: tally.last_error.unwrap_or_else(|| "unknown error".into()),
                answers: tally.answers,
            });
        }
    }
    Ok(tally.answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan of one replica set over `ids` of which `max_errors` may fail.
    fn plan(ids: &[&str], max_errors: usize) -> ReplicaPlan {
        let mut plan = ReplicaPlan::default();
        plan.add(0, ids.iter().map(|id| (*id, *id)), max_errors);
        plan
    }

    #[test]
    fn settle_tracks_taken_and_failed_sends() {
        let mut tally: Tally<()> = Tally::new(3);
        assert_eq!(tally.optimistic(), [true, true, true]);
        assert!(!tally.settle(0, "a", Ok(())));
        assert!(tally.settle(1, "b", Err("refused".into())));
        assert_eq!(tally.succeeded, [true, false, false]);
        assert_eq!(tally.optimistic(), [true, false, true]);
        assert_eq!(tally.last_error.as_deref(), Some("ingester b: refused"));
    }

    /// Scripted answers per address: `Some(code)` fails with it, `None` succeeds.
    fn scripted(
        answers: &'static [(&'static str, Option<tonic::Code>)],
    ) -> impl Fn(&str, u32) -> BoxFuture<'static, Result<u32, tonic::Status>> {
        move |addr, request| {
            let code = answers.iter().find(|(a, _)| *a == addr).and_then(|a| a.1);
            Box::pin(async move {
                match code {
                    None => Ok(request),
                    Some(code) => Err(tonic::Status::new(code, "down")),
                }
            })
        }
    }

    #[tokio::test]
    async fn replicate_answers_by_quorum() {
        use tonic::Code::Unavailable;
        type Case = (&'static [(&'static str, Option<tonic::Code>)], bool);
        let cases: &[Case] = &[
            (&[("a", None), ("b", None), ("c", None)], true),
            (&[("a", None), ("b", Some(Unavailable)), ("c", None)], true),
            (
                &[
                    ("a", Some(Unavailable)),
                    ("b", Some(Unavailable)),
                    ("c", None),
                ],
                false,
            ),
        ];
        for (answers, want) in cases {
            let plan = plan(&["a", "b", "c"], 1);
            let requests = vec![1u32; plan.destinations.len()];
            let got = replicate(
                &plan,
                requests,
                Duration::from_secs(1),
                scripted(answers),
                |tally: &mut Tally<u32>, slot, addr, answer: IngesterAnswer<u32>| {
                    let taken = answer.map(|n| tally.answers += n).map_err(|e| e.1);
                    tally.settle(slot, addr, taken);
                },
            )
            .await;
            assert_eq!(got.is_ok(), *want, "{answers:?}");
            if let Err(missed) = got {
                assert!(missed.message().ends_with(": down"), "{}", missed.message());
            }
        }
    }
}
