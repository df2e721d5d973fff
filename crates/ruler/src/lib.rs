//! The ruler: recording and alerting rules in the Prometheus rule-file format, PromQL rules
//! for metrics and LogQL rules for logs, per tenant and namespace. Rules are evaluated through
//! the query API (never by linking the querier), recording results are written through the
//! distributor, alerts go to Alertmanager's v2 API. Rulers share the rule groups through the
//! `ruler-<signal>` ring.
//!
//! Modules:
//! - [`rule_file`]: the Prometheus rule-file format (groups, recording and alerting rules).
//! - [`client`]: `QueryClient` (instant queries over HTTP) and `SampleWriter` (remote write).
//! - [`config`]: `RulerConfig`, the root's `ruler:` block.
//! - [`api`]: `rules_router`, the Mimir/Cortex/Loki rules API (YAML config, Prometheus JSON
//!   `/api/v1/rules` and `/api/v1/alerts`).
//! - [`store`]: `RuleStore` and `ObjectRuleStore` (object storage), `LocalRuleStore` (a
//!   directory of rule files), `CombinedRuleStore` (both).
//! - [`template`]: Go text/template for alert labels and annotations (`$labels`, `humanize`).
//! - [`validate`]: rule group checks (names, PromQL/LogQL, templates), errors naming the rule.
//! - [`error`]: `RulerError`, mapped onto `ErrorKind`.
//! - [`state`]: group, rule and alert state in the JSON shape of `/api/v1/rules` and `/alerts`.
//! - [`alerting`]: alerting rules, Prometheus's alert state machine, `ALERTS`, restore, resend.
//! - [`recording`]: recording rules.
//! - [`group`]: a rule group's evaluation and its loop at the group's interval.
//! - [`notifier`]: alerts to Alertmanager's v2 API through bounded per-URL queues.
//! - [`manager`]: `RulerManager`, the groups this ruler owns on the `ruler-<signal>` rings.
//! - [`instrumentation`]: `sextant_ruler_*` self-metrics.

pub mod alerting;
pub mod api;
pub mod client;
pub mod config;
pub mod error;
pub mod group;
pub mod instrumentation;
pub mod manager;
pub mod notifier;
pub mod recording;
pub mod rule_file;
pub mod state;
pub mod store;
pub mod template;
pub mod validate;

pub use config::RulerConfig;
