//! Runs TraceQL example files (Tempo's `test_examples.yaml` shape) through the parser and
//! validator.
//!
//! Each file is a YAML map of lists: `valid` (parses and validates), `parse_fails`,
//! `validate_fails` (parses, then an ordinary validation error) and `unsupported` (parses, then
//! an *unsupported* error). `valid` and `unsupported` queries must also print back to the same
//! tree: `parse(display(q)) == q`.
//!
//! - Our own files in `tests/traceql/*.yaml` must agree completely.
//! - Tempo's file (`SEXTANT_TRACEQL_TESTDATA`, by default `shared/testdata/traceql` next to
//!   the workspace) may have at most `SEXTANT_TRACEQL_FAILURES` (default 0) disagreements; the
//!   test is skipped when the folder is absent.
//!
//! Prints one line per list with its counts, every failing query with the reason, and a last
//! line `N passed, N failed`.

// The counts are this test's output.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sextant_traces::traceql::{parse, TraceqlError};

const LISTS: [&str; 4] = ["valid", "parse_fails", "validate_fails", "unsupported"];

/// What happened to one query.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Outcome {
    Valid,
    ParseFails,
    ValidateFails,
    Unsupported,
}

impl Outcome {
    fn list_name(self) -> &'static str {
        match self {
            Outcome::Valid => "valid",
            Outcome::ParseFails => "parse_fails",
            Outcome::ValidateFails => "validate_fails",
            Outcome::Unsupported => "unsupported",
        }
    }
}

/// Classifies `query`; `Err` when a query that parses does not print back to the same tree.
fn classify(query: &str) -> Result<(Outcome, String), String> {
    let parsed = match parse(query) {
        Ok(parsed) => parsed,
        Err(e) => return Ok((Outcome::ParseFails, e.to_string())),
    };
    let outcome = match parsed.validate() {
        Ok(()) => (Outcome::Valid, String::new()),
        Err(e @ TraceqlError::Unsupported(_)) => (Outcome::Unsupported, e.to_string()),
        Err(e) => (Outcome::ValidateFails, e.to_string()),
    };
    if matches!(outcome.0, Outcome::Valid | Outcome::Unsupported) {
        let printed = parsed.to_string();
        match parse(&printed) {
            Ok(again) if again == parsed => {}
            Ok(_) => return Err(format!("prints as {printed:?}, which parses differently")),
            Err(e) => return Err(format!("prints as {printed:?}, which fails: {e}")),
        }
    }
    Ok(outcome)
}

/// Runs one examples file; prints per-list counts and failures, returns (passed, failed).
fn run_file(path: &Path) -> (usize, usize) {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let lists: BTreeMap<String, Option<Vec<String>>> =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    let (mut passed, mut failed) = (0, 0);
    for list in LISTS {
        let queries = lists.get(list).cloned().flatten().unwrap_or_default();
        let mut failures = Vec::new();
        for query in &queries {
            match classify(query) {
                Ok((outcome, _)) if outcome.list_name() == list => {}
                Ok((outcome, reason)) => {
                    failures.push(format!("{query:?}: got {} {reason}", outcome.list_name()));
                }
                Err(reason) => failures.push(format!("{query:?}: {reason}")),
            }
        }
        let ok = queries.len() - failures.len();
        println!("{list}: {ok} passed, {} failed", failures.len());
        for f in &failures {
            println!("  {f}");
        }
        passed += ok;
        failed += failures.len();
    }
    println!("{passed} passed, {failed} failed");
    (passed, failed)
}

#[test]
fn own_examples_agree() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traceql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    for file in files {
        println!("{}:", file.display());
        let (passed, failed) = run_file(&file);
        assert!(passed >= 30, "{}: fewer than 30 queries", file.display());
        assert_eq!(
            failed,
            0,
            "{}: our own examples must all agree",
            file.display()
        );
    }
}

#[test]
fn upstream_examples_agree() {
    let dir = match std::env::var_os("SEXTANT_TRACEQL_TESTDATA") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/traceql"),
    };
    let file = dir.join("test_examples.yaml");
    if !file.is_file() {
        println!(
            "skipping Tempo's TraceQL examples: {} is not a file (set SEXTANT_TRACEQL_TESTDATA)",
            file.display()
        );
        return;
    }
    let allowed: usize = std::env::var("SEXTANT_TRACEQL_FAILURES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (passed, failed) = run_file(&file);
    assert!(passed > 0, "no queries in {}", file.display());
    assert!(
        failed <= allowed,
        "{failed} upstream queries disagree, SEXTANT_TRACEQL_FAILURES allows {allowed}"
    );
}
