//! Runs PromQL `.test` scripts through the engine.
//!
//! - Our own scripts in `tests/promql/*.test` must pass completely.
//! - The upstream conformance scripts (`SEXTANT_PROMQL_TESTDATA`, by default
//!   `shared/testdata/promql` next to the workspace) must pass at least [`SHARED_PASS_FLOOR`]
//!   evals; the test is skipped when the folder is absent.
//!
//! Prints one line per file (`file: N passed, N failed`) and a total. Set
//! `SEXTANT_PROMQL_FAILURES=1` to print every failing eval with its reason.

// The per-file pass counts are this test's output.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use sextant_metrics::promql::script::{run_script, ScriptReport};
use sextant_metrics::promql::{Engine, EngineOptions};

/// The least number of upstream evals that must pass (raised as the engine improves).
const SHARED_PASS_FLOOR: usize = 1426;

/// The engine settings the upstream harness uses for these files.
fn engine() -> Engine {
    Engine::new(EngineOptions {
        lookback_delta_ms: 5 * 60 * 1000,
        max_samples: 10_000,
        default_subquery_step_ms: 60 * 1000,
        enable_delayed_name_removal: true,
        // more than one thread even on a one-core machine, so the parallel paths run too
        parallelism: 3,
        max_source_resolution_ms: 0,
    })
}

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "test"))
        .collect();
    files.sort();
    files
}

/// Runs every script in `dir`, printing per-file and total counts; returns (passed, failed).
fn run_dir(dir: &Path) -> (usize, usize) {
    let engine = engine();
    let show_failures = std::env::var("SEXTANT_PROMQL_FAILURES").is_ok_and(|v| v == "1");
    let (mut passed, mut failed) = (0, 0);
    for file in test_files(dir) {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let report: ScriptReport = run_script(&text, &engine);
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        println!(
            "{name}: {} passed, {} failed",
            report.passed(),
            report.failed()
        );
        if show_failures {
            for f in report.failures() {
                println!(
                    "  {name}:{}: {}\n    {}",
                    f.line,
                    f.query,
                    f.failure.as_deref().unwrap_or("")
                );
            }
        }
        passed += report.passed();
        failed += report.failed();
    }
    println!("{passed} passed, {failed} failed");
    (passed, failed)
}

#[test]
fn own_scripts_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promql");
    let (passed, failed) = run_dir(&dir);
    assert!(passed > 0, "no evals found in {}", dir.display());
    assert_eq!(
        failed, 0,
        "our own PromQL scripts must all pass (SEXTANT_PROMQL_FAILURES=1 shows why)"
    );
}

#[test]
fn shared_conformance_floor() {
    let dir = match std::env::var_os("SEXTANT_PROMQL_TESTDATA") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/promql"),
    };
    if !dir.is_dir() {
        println!(
            "skipping the PromQL conformance scripts: {} is not a directory (set SEXTANT_PROMQL_TESTDATA)",
            dir.display()
        );
        return;
    }
    let (passed, _) = run_dir(&dir);
    assert!(
        passed >= SHARED_PASS_FLOOR,
        "{passed} upstream evals passed, the floor is {SHARED_PASS_FLOOR}"
    );
}
