//! Splitting per-series work across threads. Series are independent in range functions, so
//! a long input is cut into contiguous runs evaluated on scoped threads; results come back in
//! input order, so the output equals a sequential evaluation.

/// Below this many (series × steps) window evaluations a query stays on one thread: spawning
/// costs more than it saves.
const MIN_PARALLEL_WORK: usize = 20_000;

/// Runs `f` over contiguous runs of `items` on up to `parallelism` threads (the calling
/// thread included) and returns the runs' results in order.
pub(crate) fn run_parallel<T, R, F>(items: &[T], parallelism: usize, steps: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> R + Sync,
{
    let threads = parallelism.clamp(1, items.len().max(1));
    if threads == 1 || items.len().saturating_mul(steps.max(1)) < MIN_PARALLEL_WORK {
        return vec![f(items)];
    }
    let run = items.len().div_ceil(threads);
    let mut runs = items.chunks(run);
    let first = runs.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs.map(|r| scope.spawn(|| f(r))).collect();
        let mut out = Vec::with_capacity(threads);
        out.push(f(first));
        for h in handles {
            match h.join() {
                Ok(r) => out.push(r),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order() {
        let items: Vec<usize> = (0..100_000).collect();
        for parallelism in [1, 2, 3, 8] {
            let runs = run_parallel(&items, parallelism, 1, |r| r.to_vec());
            assert_eq!(runs.concat(), items, "parallelism {parallelism}");
            let expected = if parallelism == 1 { 1 } else { parallelism };
            assert_eq!(runs.len(), expected);
        }
    }

    #[test]
    fn small_inputs_stay_on_one_thread() {
        let items = [1, 2, 3];
        assert_eq!(run_parallel(&items, 4, 10, |r| r.len()), vec![3]);
        let empty: [u8; 0] = [];
        assert_eq!(run_parallel(&empty, 4, 10, |r| r.len()), vec![0]);
    }
}
