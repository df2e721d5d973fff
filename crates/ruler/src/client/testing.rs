//! In-memory [`QueryClient`] and [`SampleWriter`] for the evaluation tests.

use std::collections::HashMap;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use sextant_model::{Labels, Signal, TenantId};

use super::{LatestSample, QueryClient, QueryResult, RuleSample, RulerQueryError, SampleWriter};

/// Answers each expression with what the test set for it (empty when unset), and records
/// every query.
#[derive(Default)]
pub struct FakeQueryClient {
    answers: Mutex<HashMap<String, Result<QueryResult, String>>>,
    pub calls: Mutex<Vec<(Signal, String, String, i64)>>,
    latest: Mutex<HashMap<String, Vec<LatestSample>>>,
}

impl FakeQueryClient {
    pub fn set(&self, expr: &str, result: Vec<(Labels, f64)>) {
        self.answers.lock().insert(expr.to_string(), Ok(result));
    }

    /// What `latest_samples(selector, ..)` answers.
    pub fn set_latest(&self, selector: &str, samples: Vec<LatestSample>) {
        self.latest.lock().insert(selector.to_string(), samples);
    }

    pub fn fail(&self, expr: &str, message: &str) {
        self.answers
            .lock()
            .insert(expr.to_string(), Err(message.to_string()));
    }
}

impl QueryClient for FakeQueryClient {
    fn instant_query<'a>(
        &'a self,
        signal: Signal,
        tenant: &'a TenantId,
        expr: &'a str,
        time_ms: i64,
    ) -> BoxFuture<'a, Result<QueryResult, RulerQueryError>> {
        self.calls
            .lock()
            .push((signal, tenant.to_string(), expr.to_string(), time_ms));
        let answer = self.answers.lock().get(expr).cloned();
        Box::pin(async move {
            match answer {
                None => Ok(Vec::new()),
                Some(Ok(result)) => Ok(result),
                Some(Err(body)) => Err(RulerQueryError::Status {
                    url: "fake".into(),
                    status: 422,
                    body,
                }),
            }
        })
    }

    fn latest_samples<'a>(
        &'a self,
        tenant: &'a TenantId,
        selector: &'a str,
        time_ms: i64,
        range: std::time::Duration,
    ) -> BoxFuture<'a, Result<Vec<LatestSample>, RulerQueryError>> {
        let expr = format!("{selector}[{}]", sextant_model::duration::format(range));
        self.calls
            .lock()
            .push((Signal::Metrics, tenant.to_string(), expr, time_ms));
        let (from, to) = (time_ms - range.as_millis() as i64, time_ms);
        let answer: Vec<LatestSample> = self
            .latest
            .lock()
            .get(selector)
            .into_iter()
            .flatten()
            .filter(|s| s.timestamp_ms > from && s.timestamp_ms <= to)
            .cloned()
            .collect();
        Box::pin(async move { Ok(answer) })
    }
}

/// Keeps every written sample with its tenant.
#[derive(Default)]
pub struct FakeSampleWriter {
    pub written: Mutex<Vec<(String, RuleSample)>>,
}

impl FakeSampleWriter {
    /// Takes what was written so far.
    pub fn take(&self) -> Vec<RuleSample> {
        std::mem::take(&mut *self.written.lock())
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    }
}

impl SampleWriter for FakeSampleWriter {
    fn write<'a>(
        &'a self,
        tenant: &'a TenantId,
        samples: Vec<RuleSample>,
    ) -> BoxFuture<'a, Result<(), RulerQueryError>> {
        self.written
            .lock()
            .extend(samples.into_iter().map(|s| (tenant.to_string(), s)));
        Box::pin(async { Ok(()) })
    }
}
