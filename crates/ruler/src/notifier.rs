//! Alerts to Alertmanager's v2 API (`POST <url>/api/v2/alerts`), as Prometheus's notifier:
//! external labels added (an alert's own label wins), one bounded queue per tenant and URL
//! dropping the oldest alerts when full, batches of 64, a timeout per request, failures
//! counted and not retried (firing alerts are re-sent every `resend_delay` anyway).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Serialize, Serializer};
use sextant_model::TenantId;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::TENANT_HEADER;
use crate::config::RulerConfig;
use crate::instrumentation::RulerMetrics;
use crate::state::format_rfc3339_ms;

/// Alerts per request.
pub const MAX_BATCH_SIZE: usize = 64;

/// An alert as Alertmanager's v2 API takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostableAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt", serialize_with = "rfc3339")]
    pub starts_at_ms: i64,
    #[serde(rename = "endsAt", serialize_with = "rfc3339")]
    pub ends_at_ms: i64,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

fn rfc3339<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339_ms(*ms))
}

/// Sends alerts; see the module docs.
pub struct Notifier {
    global_urls: Vec<String>,
    tenant_urls: BTreeMap<String, Vec<String>>,
    external_labels: BTreeMap<String, String>,
    capacity: usize,
    client: object_store_reqwest::Client,
    metrics: RulerMetrics,
    queues: Mutex<HashMap<(TenantId, String), Arc<Queue>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    cancel: CancellationToken,
}

#[derive(Default)]
struct Queue {
    alerts: Mutex<VecDeque<PostableAlert>>,
    wake: Notify,
}

impl Notifier {
    /// `client` should carry `notification_timeout` as its timeout
    /// ([`crate::client::build_http_client`]).
    pub fn new(
        config: &RulerConfig,
        client: object_store_reqwest::Client,
        metrics: RulerMetrics,
    ) -> Self {
        Self {
            global_urls: config.alertmanager_url.clone(),
            tenant_urls: config.tenant_alertmanager_urls.clone(),
            external_labels: config.external_labels.clone(),
            capacity: config.notification_queue_capacity.max(1),
            client,
            metrics,
            queues: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            cancel: CancellationToken::new(),
        }
    }

    /// Queues `alerts` of `tenant` for each of its Alertmanagers (none configured: dropped
    /// silently, as Prometheus without Alertmanagers). Must run inside a Tokio runtime.
    pub fn send(&self, tenant: &TenantId, mut alerts: Vec<PostableAlert>) {
        let urls = self
            .tenant_urls
            .get(tenant.as_str())
            .unwrap_or(&self.global_urls);
        if alerts.is_empty() || urls.is_empty() || self.cancel.is_cancelled() {
            return;
        }
        for alert in &mut alerts {
            for (name, value) in &self.external_labels {
                alert
                    .labels
                    .entry(name.clone())
                    .or_insert_with(|| value.clone());
            }
        }
        for url in urls {
            let queue = self.queue(tenant, url);
            self.enqueue(tenant, &queue, &alerts);
        }
    }

    /// Stops the senders after they sent what is queued (each request bounded by the
    /// client's timeout).
    pub async fn stop(&self) {
        self.cancel.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock());
        for task in tasks {
            let _ = task.await;
        }
    }

    fn enqueue(&self, tenant: &TenantId, queue: &Queue, alerts: &[PostableAlert]) {
        let mut queued = queue.alerts.lock();
        queued.extend(alerts.iter().cloned());
        let overflow = queued.len().saturating_sub(self.capacity);
        if overflow > 0 {
            queued.drain(..overflow);
            self.metrics
                .notifications_dropped(tenant.as_str(), overflow);
            tracing::warn!(tenant = %tenant, dropped = overflow, "alert notification queue full, dropping alerts");
        }
        let added = alerts.len() as i64 - overflow as i64;
        self.metrics.queue_length_changed(tenant.as_str(), added);
        drop(queued);
        queue.wake.notify_one();
    }

    /// The queue of one tenant and URL, starting its sender on first use.
    fn queue(&self, tenant: &TenantId, url: &str) -> Arc<Queue> {
        let mut queues = self.queues.lock();
        let key = (tenant.clone(), url.to_string());
        if let Some(queue) = queues.get(&key) {
            return queue.clone();
        }
        let queue = Arc::new(Queue::default());
        queues.insert(key, queue.clone());
        let sender = Sender {
            tenant: tenant.clone(),
            url: format!("{}/api/v2/alerts", url.trim_end_matches('/')),
            client: self.client.clone(),
            metrics: self.metrics.clone(),
            queue: queue.clone(),
        };
        let cancel = self.cancel.clone();
        self.tasks
            .lock()
            .push(tokio::spawn(async move { sender.run(cancel).await }));
        queue
    }
}

/// Drains one queue to one Alertmanager.
struct Sender {
    tenant: TenantId,
    url: String,
    client: object_store_reqwest::Client,
    metrics: RulerMetrics,
    queue: Arc<Queue>,
}

impl Sender {
    async fn run(self, cancel: CancellationToken) {
        loop {
            let batch = self.next_batch();
            if batch.is_empty() {
                tokio::select! {
                    _ = self.queue.wake.notified() => continue,
                    _ = cancel.cancelled() => return,
                }
            }
            self.post(&batch).await;
        }
    }

    fn next_batch(&self) -> Vec<PostableAlert> {
        let mut queued = self.queue.alerts.lock();
        let n = queued.len().min(MAX_BATCH_SIZE);
        let batch: Vec<_> = queued.drain(..n).collect();
        self.metrics
            .queue_length_changed(self.tenant.as_str(), -(n as i64));
        batch
    }

    async fn post(&self, batch: &[PostableAlert]) {
        let body = match serde_json::to_vec(batch) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "encoding alerts");
                return;
            }
        };
        let response = self
            .client
            .post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(TENANT_HEADER, self.tenant.as_str())
            .body(body)
            .send()
            .await;
        let error = match response {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("status {}", r.status())),
            Err(e) => Some(e.to_string()),
        };
        match error {
            None => self
                .metrics
                .notifications_sent(self.tenant.as_str(), batch.len()),
            Some(error) => {
                self.metrics
                    .notifications_failed(self.tenant.as_str(), batch.len());
                tracing::warn!(tenant = %self.tenant, alertmanager = %self.url, alerts = batch.len(), error, "sending alerts failed");
            }
        }
    }
}

#[cfg(test)]
mod tests;
