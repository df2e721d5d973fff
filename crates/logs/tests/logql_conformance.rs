//! Runs LogQL `.logqltest` scripts through the evaluator.
//!
//! - Our own scripts in `tests/logql/*.logqltest` must pass completely.
//! - The upstream scripts (`SEXTANT_LOGQL_TESTDATA`, by default `shared/testdata/logql` next
//!   to the workspace) must pass at least [`SHARED_PASS_FLOOR`] evals; the test is skipped
//!   when the folder is absent.
//!
//! Prints one line per file (`file.logqltest: N passed, N failed`) and a total. Set
//! `SEXTANT_LOGQL_FAILURES=1` to print every failing eval with its reason.

// The per-file pass counts are this test's output.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use sextant_logs::logql::eval::script::run_script;

/// The least number of upstream evals that must pass (raised as the engine improves).
const SHARED_PASS_FLOOR: usize = 681;

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "logqltest"))
        .collect();
    files.sort();
    files
}

/// Runs every script in `dir`, printing per-file and total counts; returns (passed, failed).
fn run_dir(dir: &Path) -> (usize, usize) {
    let show_failures = std::env::var("SEXTANT_LOGQL_FAILURES").is_ok_and(|v| v == "1");
    let (mut passed, mut failed) = (0, 0);
    for file in test_files(dir) {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let report = run_script(&text);
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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/logql");
    let (passed, failed) = run_dir(&dir);
    assert!(passed > 0, "no evals found in {}", dir.display());
    assert_eq!(
        failed, 0,
        "our own LogQL scripts must all pass (SEXTANT_LOGQL_FAILURES=1 shows why)"
    );
}

#[test]
fn shared_conformance_floor() {
    let dir = match std::env::var_os("SEXTANT_LOGQL_TESTDATA") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/logql"),
    };
    if !dir.is_dir() {
        println!(
            "skipping the LogQL conformance scripts: {} is not a directory (set SEXTANT_LOGQL_TESTDATA)",
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
