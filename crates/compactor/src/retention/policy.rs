//! The retention periods of one tenant and signal, from its limits.

use sextant_logs::logql::ast::Expr;
use sextant_logs::logql::parse::parse_expr;
use sextant_model::{Labels, Matcher, Signal, TenantLimits};

use crate::error::CompactorError;

/// How long a tenant's data of one signal is kept: one period, refined per stream for logs.
/// Periods are in ms; 0 keeps data forever.
#[derive(Debug, Clone)]
pub struct RetentionPolicy {
    period_ms: i64,
    /// Logs' `retention_stream`, in decision order: highest priority, then shortest period.
    streams: Vec<StreamRule>,
}

#[derive(Debug, Clone)]
struct StreamRule {
    matchers: Vec<Matcher>,
    period_ms: i64,
}

impl RetentionPolicy {
    /// The policy of `signal` under `limits`; an error names a `retention_stream` selector
    /// that is not a plain LogQL stream selector.
    pub fn new(signal: Signal, limits: &TenantLimits) -> Result<RetentionPolicy, CompactorError> {
        let period = match signal {
            Signal::Metrics => limits.compactor_blocks_retention_period,
            Signal::Logs => limits.logs.retention_period,
            Signal::Traces => limits.traces.block_retention,
        };
        let mut rules = Vec::new();
        if signal == Signal::Logs {
            for rule in &limits.logs.retention_stream {
                let matchers = parse_selector(&rule.selector).map_err(|reason| {
                    CompactorError::Config(format!(
                        "logs.retention_stream selector {:?}: {reason}",
                        rule.selector
                    ))
                })?;
                rules.push((rule.priority, duration_ms(rule.period), matchers));
            }
        }
        // highest priority first, then the shortest period (0, forever, counts as longest)
        rules.sort_by_key(|(priority, period, _)| {
            (std::cmp::Reverse(*priority), forever_last(*period))
        });
        Ok(RetentionPolicy {
            period_ms: duration_ms(period),
            streams: rules
                .into_iter()
                .map(|(_, period_ms, matchers)| StreamRule {
                    matchers,
                    period_ms,
                })
                .collect(),
        })
    }

    /// The period of a stream with `labels` (ms; 0 = forever): the first matching rule's,
    /// else the signal's.
    pub fn stream_period_ms(&self, labels: &Labels) -> i64 {
        self.streams
            .iter()
            .find(|rule| {
                rule.matchers
                    .iter()
                    .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
            })
            .map_or(self.period_ms, |rule| rule.period_ms)
    }

    /// The cutoff (Unix ms) of a stream at `now_ms`: entries before it are expired; `None`
    /// when the stream is kept forever.
    pub fn stream_cutoff_ms(&self, labels: &Labels, now_ms: i64) -> Option<i64> {
        match self.stream_period_ms(labels) {
            0 => None,
            period => Some(now_ms.saturating_sub(period)),
        }
    }

    /// The shortest period any data can have; `None` when everything is kept forever.
    pub fn shortest_period_ms(&self) -> Option<i64> {
        self.periods().filter(|p| *p > 0).min()
    }

    /// The longest period any data can have; `None` when some data may be kept forever.
    pub fn longest_period_ms(&self) -> Option<i64> {
        self.periods()
            .try_fold(0, |longest, p| (p > 0).then_some(longest.max(p)))
    }

    fn periods(&self) -> impl Iterator<Item = i64> + '_ {
        std::iter::once(self.period_ms).chain(self.streams.iter().map(|r| r.period_ms))
    }
}

fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn forever_last(period_ms: i64) -> i64 {
    match period_ms {
        0 => i64::MAX,
        p => p,
    }
}

/// The matchers of a stream selector without pipeline.
fn parse_selector(selector: &str) -> Result<Vec<Matcher>, String> {
    match parse_expr(selector).map_err(|e| e.to_string())? {
        Expr::Log(log) if log.pipeline.is_empty() => Ok(log.matchers),
        _ => Err("not a stream selector like {namespace=\"dev\"}".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sextant_model::limits::StreamRetention;

    use super::*;

    const H: u64 = 3600;

    fn limits(global_h: u64, rules: &[(&str, u32, u64)]) -> TenantLimits {
        let mut l = TenantLimits::default();
        l.logs.retention_period = Duration::from_secs(global_h * H);
        l.logs.retention_stream = rules
            .iter()
            .map(|&(selector, priority, period_h)| StreamRetention {
                selector: selector.into(),
                priority,
                period: Duration::from_secs(period_h * H),
            })
            .collect();
        l
    }

    fn stream(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn stream_periods_by_priority_then_shortest() {
        let rules = [
            (r#"{namespace="dev"}"#, 1, 24),
            (r#"{namespace="dev", app="audit"}"#, 5, 24 * 90),
            (r#"{namespace=~"d.*"}"#, 1, 12),
            (r#"{team="x"}"#, 0, 0),
        ];
        let policy = RetentionPolicy::new(Signal::Logs, &limits(24 * 30, &rules)).unwrap();
        let ms = |h: u64| (h * H * 1000) as i64;
        // (stream, period)
        let cases = [
            (stream(&[("namespace", "dev")]), ms(12)),
            (
                stream(&[("namespace", "dev"), ("app", "audit")]),
                ms(24 * 90),
            ),
            (stream(&[("namespace", "prod")]), ms(24 * 30)),
            (stream(&[("team", "x")]), 0),
            (stream(&[]), ms(24 * 30)),
        ];
        for (labels, want) in cases {
            assert_eq!(policy.stream_period_ms(&labels), want, "{labels}");
        }
        assert_eq!(policy.shortest_period_ms(), Some(ms(12)));
        assert_eq!(policy.longest_period_ms(), None, "team=x is kept forever");
        assert_eq!(
            policy.stream_cutoff_ms(&stream(&[("team", "x")]), 1000),
            None
        );
        assert_eq!(
            policy.stream_cutoff_ms(&stream(&[]), ms(24 * 31)),
            Some(ms(24))
        );
    }

    #[test]
    fn signal_periods() {
        let mut l = limits(0, &[("{a=\"b\"}", 0, 48)]);
        l.compactor_blocks_retention_period = Duration::from_secs(10);
        l.traces.block_retention = Duration::from_secs(20);
        let period = |signal| RetentionPolicy::new(signal, &l).unwrap();
        // (signal, shortest, longest)
        let cases = [
            (Signal::Metrics, Some(10_000), Some(10_000)),
            (Signal::Traces, Some(20_000), Some(20_000)),
            (Signal::Logs, Some(48 * H as i64 * 1000), None),
        ];
        for (signal, shortest, longest) in cases {
            let p = period(signal);
            assert_eq!(p.shortest_period_ms(), shortest, "{signal:?}");
            assert_eq!(p.longest_period_ms(), longest, "{signal:?}");
        }
        let none = RetentionPolicy::new(Signal::Metrics, &TenantLimits::default()).unwrap();
        assert_eq!(none.shortest_period_ms(), None);
    }

    #[test]
    fn bad_selectors_are_errors_naming_them() {
        for selector in ["{a=\"b\"} |= \"x\"", "nope", "sum(rate({a=\"b\"}[1m]))"] {
            let err =
                RetentionPolicy::new(Signal::Logs, &limits(1, &[(selector, 0, 1)])).unwrap_err();
            assert!(err.to_string().contains(&format!("{selector:?}")), "{err}");
        }
    }
}
