//! Bounded polling: every wait in the harness has a deadline and says what it waited for.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// How often [`wait_for`] polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Polls `check` until it returns `Ok(Some(value))`, failing after `timeout` with `what` and
/// the last error or "not yet" seen. An `Err` from `check` is retried, not fatal: the thing
/// polled is usually not up yet.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => String::from("condition not met yet"),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}: {last}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_value_once_the_condition_holds() {
        let mut calls = 0;
        let got = wait_for(Duration::from_secs(5), "third call", || {
            calls += 1;
            let n = calls;
            async move { Ok((n >= 3).then_some(n)) }
        })
        .await
        .unwrap();
        assert_eq!(got, 3);
    }

    #[tokio::test]
    async fn times_out_with_the_last_error() {
        let err = wait_for::<(), _, _>(Duration::from_millis(250), "never", || async {
            anyhow::bail!("still down")
        })
        .await
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("never") && msg.contains("still down"), "{msg}");
    }
}
