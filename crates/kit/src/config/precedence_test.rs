//! Precedence of defaults < file < flags, after Loki's `pkg/util/cfg/precedence_test.go`.

use std::io::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Sample {
    target: String,
    signals: Vec<String>,
    multitenancy_enabled: bool,
    node_name: Option<String>,
    ingester: Ingester,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Ingester {
    wal_dir: String,
    replication_factor: usize,
    #[serde(with = "sextant_model::duration")]
    heartbeat_period: Duration,
}

impl Default for Sample {
    fn default() -> Self {
        Sample {
            target: "all".into(),
            signals: vec!["metrics".into(), "logs".into(), "traces".into()],
            multitenancy_enabled: false,
            node_name: None,
            ingester: Ingester::default(),
        }
    }
}

impl Default for Ingester {
    fn default() -> Self {
        Ingester {
            wal_dir: "./data/wal".into(),
            replication_factor: 3,
            heartbeat_period: Duration::from_secs(5),
        }
    }
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn args(file: Option<&tempfile::NamedTempFile>, flags: &[&str]) -> ConfigArgs {
    let mut list: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
    if let Some(f) = file {
        list.push(format!("-config.file={}", f.path().display()));
    }
    parse_args(list).unwrap()
}

#[test]
fn defaults_only() {
    let got: Sample = load(&args(None, &[])).unwrap();
    assert_eq!(got, Sample::default());
}

#[test]
fn file_overrides_defaults_and_flags_override_file() {
    let f = file("target: write\ningester:\n  replication_factor: 2\n  heartbeat_period: 1m\n");
    let from_file: Sample = load(&args(Some(&f), &[])).unwrap();
    assert_eq!(from_file.target, "write");
    assert_eq!(from_file.ingester.replication_factor, 2);
    assert_eq!(from_file.ingester.heartbeat_period, Duration::from_secs(60));
    assert_eq!(
        from_file.ingester.wal_dir, "./data/wal",
        "unset keys keep their defaults"
    );

    let flags = [
        "-target=read",
        "-ingester.replication-factor",
        "1",
        "-ingester.heartbeat-period=10s",
        "-signals=metrics,logs",
        "-multitenancy-enabled",
        "-node-name=7",
    ];
    let got: Sample = load(&args(Some(&f), &flags)).unwrap();
    assert_eq!(got.target, "read");
    assert_eq!(got.ingester.replication_factor, 1);
    assert_eq!(got.ingester.heartbeat_period, Duration::from_secs(10));
    assert_eq!(got.signals, vec!["metrics", "logs"]);
    assert!(got.multitenancy_enabled);
    assert_eq!(
        got.node_name.as_deref(),
        Some("7"),
        "option fields serialized as null are settable"
    );
}

#[test]
fn errors_name_the_yaml_path() {
    let f = file("ingester:\n  replication_factr: 2\n");
    let err = load::<Sample>(&args(Some(&f), &[]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("ingester"), "{err}");
    assert!(err.contains("replication_factr"), "{err}");

    let err = load::<Sample>(&args(None, &["-ingester.replication-factor=x"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ingester.replication_factor: invalid type: string \"x\", expected usize"
    );

    let err = load::<Sample>(&args(None, &["-ingester.heartbeat-period=5"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("ingester.heartbeat_period: invalid duration"),
        "{err}"
    );

    let err = load::<Sample>(&args(None, &["-ingester.nope=1"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown flag -ingester.nope: no config path ingester.nope"
    );
}

#[test]
fn broken_or_missing_file() {
    let f = file("ingester: [unclosed\n");
    assert!(matches!(
        load::<Sample>(&args(Some(&f), &[])),
        Err(ConfigError::ParseFile { .. })
    ));
    let missing = parse_args(["-config.file=/nonexistent/sextant.yaml".to_string()]).unwrap();
    assert!(matches!(
        load::<Sample>(&missing),
        Err(ConfigError::ReadFile { .. })
    ));
}

#[test]
fn expand_env_on_and_off() {
    // A variable name nobody else sets, so the test does not race with other tests.
    std::env::set_var("SEXTANT_KIT_TEST_WAL_DIR", "/var/wal");
    let f = file("ingester:\n  wal_dir: ${SEXTANT_KIT_TEST_WAL_DIR}\ntarget: ${SEXTANT_KIT_TEST_UNSET:read}\n");

    let off: Sample = load(&args(Some(&f), &[])).unwrap();
    assert_eq!(off.ingester.wal_dir, "${SEXTANT_KIT_TEST_WAL_DIR}");

    let on: Sample = load(&args(Some(&f), &["-config.expand-env"])).unwrap();
    assert_eq!(on.ingester.wal_dir, "/var/wal");
    assert_eq!(on.target, "read");
}

#[test]
fn printed_config_loads_back_to_the_same_value() {
    let mut custom = Sample::default();
    custom.ingester.replication_factor = 5;
    custom.node_name = Some("n1".into());
    let f = file(&to_yaml(&custom));
    let got: Sample = load(&args(Some(&f), &[])).unwrap();
    assert_eq!(got, custom);
}

#[test]
fn usage_lists_every_path_with_its_default() {
    let text = usage::<Sample>();
    let want = [
        "  -config.file <path>",
        "  -target (default: all)",
        "  -signals (default: metrics,logs,traces)",
        "  -node-name (default: null)",
        "  -ingester.replication-factor (default: 3)",
        "  -ingester.heartbeat-period (default: 5s)",
    ];
    for line in want {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }
}
