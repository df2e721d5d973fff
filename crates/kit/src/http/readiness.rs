//! Readiness: a set of named flags; the process is ready when every flag is.

use std::sync::Arc;

use parking_lot::Mutex;

type FlagState = Arc<Mutex<Result<(), String>>>;

/// A clonable registry of readiness flags. `/ready` answers 200 only when all are ready.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    flags: Arc<Mutex<Vec<(String, FlagState)>>>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a flag, not ready ("starting") until its owner says otherwise.
    pub fn register(&self, name: &str) -> ReadyFlag {
        let state: FlagState = Arc::new(Mutex::new(Err("starting".to_string())));
        self.flags.lock().push((name.to_string(), state.clone()));
        ReadyFlag { state }
    }

    /// `Ok` when every flag is ready, otherwise one `"<name>: <reason>"` per flag that is not.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let reasons: Vec<String> = self
            .flags
            .lock()
            .iter()
            .filter_map(|(name, state)| {
                state
                    .lock()
                    .as_ref()
                    .err()
                    .map(|reason| format!("{name}: {reason}"))
            })
            .collect();
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }
}

/// One component's say in readiness.
#[derive(Debug, Clone)]
pub struct ReadyFlag {
    state: FlagState,
}

impl ReadyFlag {
    pub fn set_ready(&self, ready: bool) {
        *self.state.lock() = if ready {
            Ok(())
        } else {
            Err("not ready".to_string())
        };
    }

    pub fn set_not_ready(&self, reason: impl Into<String>) {
        *self.state.lock() = Err(reason.into());
    }

    pub fn is_ready(&self) -> bool {
        self.state.lock().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_flags_must_be_ready() {
        let r = Readiness::new();
        assert_eq!(r.check(), Ok(()));
        let ring = r.register("ring");
        let wal = r.register("wal");
        assert_eq!(
            r.check(),
            Err(vec![
                "ring: starting".to_string(),
                "wal: starting".to_string()
            ])
        );
        ring.set_ready(true);
        wal.set_not_ready("replaying wal");
        assert_eq!(r.check(), Err(vec!["wal: replaying wal".to_string()]));
        wal.set_ready(true);
        assert!(wal.is_ready());
        assert_eq!(r.check(), Ok(()));
        ring.set_ready(false);
        assert_eq!(r.check(), Err(vec!["ring: not ready".to_string()]));
    }
}
