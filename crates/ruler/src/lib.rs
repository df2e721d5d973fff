//! The ruler: recording and alerting rules in the Prometheus rule-file format, PromQL rules
//! for metrics and LogQL rules for logs, per tenant and namespace. Rules are evaluated through
//! the query API (never by linking the querier), recording results are written through the
//! distributor, alerts go to Alertmanager's v2 API. Rulers share the rule groups through the
//! `ruler-<signal>` ring.
//!
//! Modules:
//! - [`rule_file`]: the Prometheus rule-file format (groups, recording and alerting rules).

pub mod rule_file;
