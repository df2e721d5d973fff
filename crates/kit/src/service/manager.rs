//! Starts services in dependency order and stops them in reverse, tracking each one's state.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use super::{Service, ServiceError, ServiceState};

/// A clonable view of service states, in start order, for `/services` and `/ready`.
#[derive(Debug, Clone, Default)]
pub struct ServiceStates(Arc<RwLock<Vec<(String, ServiceState)>>>);

impl ServiceStates {
    pub fn snapshot(&self) -> Vec<(String, ServiceState)> {
        self.0.read().clone()
    }

    fn set(&self, index: usize, state: ServiceState) {
        if let Some(entry) = self.0.write().get_mut(index) {
            entry.1 = state;
        }
    }
}

/// Runs a list of services (already in start order, as `ModuleTable::init` returns them).
pub struct ServiceManager {
    services: Vec<Arc<dyn Service>>,
    states: ServiceStates,
    stop_timeout: Duration,
    started: parking_lot::Mutex<usize>,
}

impl ServiceManager {
    pub fn new(services: Vec<Arc<dyn Service>>, stop_timeout: Duration) -> Self {
        let states = services
            .iter()
            .map(|s| (s.name().to_string(), ServiceState::New))
            .collect();
        ServiceManager {
            services,
            states: ServiceStates(Arc::new(RwLock::new(states))),
            stop_timeout,
            started: parking_lot::Mutex::new(0),
        }
    }

    pub fn states(&self) -> ServiceStates {
        self.states.clone()
    }

    /// Starts every service in order. If one fails, the ones already started are stopped in
    /// reverse and the start error is returned.
    pub async fn start_all(&self) -> Result<(), ServiceError> {
        for (index, service) in self.services.iter().enumerate() {
            self.states.set(index, ServiceState::Starting);
            tracing::info!(service = service.name(), "starting service");
            if let Err(source) = service.start().await {
                self.states.set(index, ServiceState::Failed);
                tracing::error!(service = service.name(), error = %source, "service failed to start");
                self.stop_all().await;
                return Err(ServiceError::Start {
                    service: service.name().to_string(),
                    source,
                });
            }
            self.states.set(index, ServiceState::Running);
            *self.started.lock() = index + 1;
        }
        Ok(())
    }

    /// Stops the started services in reverse order, each within the stop timeout. Errors are
    /// logged and returned; stopping carries on with the next service.
    pub async fn stop_all(&self) -> Vec<ServiceError> {
        let started = std::mem::take(&mut *self.started.lock());
        let mut errors = Vec::new();
        for index in (0..started).rev() {
            if let Err(err) = self.stop_one(index).await {
                tracing::error!(service = self.services[index].name(), error = %err, "service failed to stop");
                errors.push(err);
            }
        }
        errors
    }

    async fn stop_one(&self, index: usize) -> Result<(), ServiceError> {
        let service = &self.services[index];
        let name = service.name().to_string();
        self.states.set(index, ServiceState::Stopping);
        tracing::info!(service = %name, "stopping service");
        let result = match tokio::time::timeout(self.stop_timeout, service.stop()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(ServiceError::Stop {
                service: name,
                source,
            }),
            Err(_) => Err(ServiceError::StopTimeout {
                service: name,
                timeout: self.stop_timeout,
            }),
        };
        let state = if result.is_ok() {
            ServiceState::Terminated
        } else {
            ServiceState::Failed
        };
        self.states.set(index, state);
        result
    }
}

#[cfg(test)]
mod tests {
    use futures::future::BoxFuture;
    use parking_lot::Mutex;

    use super::*;
    use crate::service::BoxError;

    /// Records "start x" / "stop x" in a shared log; can fail to start or hang on stop.
    struct Recorder {
        name: &'static str,
        log: Arc<Mutex<Vec<String>>>,
        fail_start: bool,
        hang_stop: bool,
    }

    impl Service for Recorder {
        fn name(&self) -> &str {
            self.name
        }

        fn start(&self) -> BoxFuture<'_, Result<(), BoxError>> {
            Box::pin(async move {
                self.log.lock().push(format!("start {}", self.name));
                if self.fail_start {
                    return Err("boom".into());
                }
                Ok(())
            })
        }

        fn stop(&self) -> BoxFuture<'_, Result<(), BoxError>> {
            Box::pin(async move {
                self.log.lock().push(format!("stop {}", self.name));
                if self.hang_stop {
                    std::future::pending::<()>().await;
                }
                Ok(())
            })
        }
    }

    fn services(
        log: &Arc<Mutex<Vec<String>>>,
        spec: &[(&'static str, bool, bool)],
    ) -> Vec<Arc<dyn Service>> {
        spec.iter()
            .map(|&(name, fail_start, hang_stop)| {
                Arc::new(Recorder {
                    name,
                    log: log.clone(),
                    fail_start,
                    hang_stop,
                }) as Arc<dyn Service>
            })
            .collect()
    }

    fn states(m: &ServiceManager) -> Vec<ServiceState> {
        m.states().snapshot().into_iter().map(|(_, s)| s).collect()
    }

    #[tokio::test]
    async fn starts_in_order_and_stops_in_reverse() {
        let log = Arc::default();
        let m = ServiceManager::new(
            services(&log, &[("a", false, false), ("b", false, false)]),
            Duration::from_secs(1),
        );
        assert_eq!(states(&m), [ServiceState::New, ServiceState::New]);
        m.start_all().await.unwrap();
        assert_eq!(states(&m), [ServiceState::Running, ServiceState::Running]);
        assert!(m.stop_all().await.is_empty());
        assert_eq!(*log.lock(), ["start a", "start b", "stop b", "stop a"]);
        assert_eq!(
            states(&m),
            [ServiceState::Terminated, ServiceState::Terminated]
        );
        assert!(m.stop_all().await.is_empty(), "stopping twice is a no-op");
        assert_eq!(log.lock().len(), 4);
    }

    #[tokio::test]
    async fn failed_start_stops_the_started_ones_in_reverse() {
        let log = Arc::default();
        let spec = [
            ("a", false, false),
            ("b", false, false),
            ("c", true, false),
            ("d", false, false),
        ];
        let m = ServiceManager::new(services(&log, &spec), Duration::from_secs(1));
        let err = m.start_all().await.unwrap_err();
        assert_eq!(err.to_string(), "starting service c: boom");
        assert_eq!(
            *log.lock(),
            ["start a", "start b", "start c", "stop b", "stop a"]
        );
        let want = [
            ServiceState::Terminated,
            ServiceState::Terminated,
            ServiceState::Failed,
            ServiceState::New,
        ];
        assert_eq!(states(&m), want);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_times_out_and_continues() {
        let log = Arc::default();
        let m = ServiceManager::new(
            services(&log, &[("a", false, false), ("b", false, true)]),
            Duration::from_secs(5),
        );
        m.start_all().await.unwrap();
        let errors = m.stop_all().await;
        assert!(
            matches!(errors.as_slice(), [ServiceError::StopTimeout { service, .. }] if service == "b")
        );
        assert_eq!(*log.lock(), ["start a", "start b", "stop b", "stop a"]);
        assert_eq!(states(&m), [ServiceState::Terminated, ServiceState::Failed]);
    }
}
