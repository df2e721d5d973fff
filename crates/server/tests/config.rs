//! The root configuration: precedence (defaults < file < flags), errors that name the YAML
//! path, every example config loads, and `-print.config` output loads back to the same config.

use std::path::PathBuf;

use sextant_kit::config::{load, parse_args, to_yaml};
use sextant_model::Signal;
use sextant_server::config::RootConfig;

fn load_with(file: Option<&str>, flags: &[&str]) -> Result<RootConfig, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    if let Some(yaml) = file {
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        args.push(format!("-config.file={}", path.display()));
    }
    let args = parse_args(args).map_err(|e| e.to_string())?;
    load::<RootConfig>(&args).map_err(|e| e.to_string())
}

#[test]
fn defaults_then_file_then_flags() {
    let defaults = load_with(None, &[]).unwrap();
    assert_eq!(defaults, RootConfig::default());
    assert_eq!(defaults.ingester.metrics.replication_factor, 3);
    assert_eq!(defaults.server.http_listen_address, "0.0.0.0:8080");

    let file = "ingester:\n  metrics:\n    replication_factor: 2\n  wal_dir: /tmp/w\n";
    let from_file = load_with(Some(file), &[]).unwrap();
    assert_eq!(from_file.ingester.metrics.replication_factor, 2);
    assert_eq!(from_file.ingester.wal_dir, "/tmp/w");

    let flagged = load_with(
        Some(file),
        &["-ingester.metrics.replication-factor=1", "-target=ingester"],
    )
    .unwrap();
    assert_eq!(
        flagged.ingester.metrics.replication_factor, 1,
        "flag beats file"
    );
    assert_eq!(
        flagged.ingester.wal_dir, "/tmp/w",
        "file value kept where no flag"
    );
    assert_eq!(flagged.target, "ingester");
}

#[test]
fn signals_from_flag_and_file() {
    let c = load_with(None, &["-signals=metrics,logs"]).unwrap();
    assert_eq!(c.signals, vec![Signal::Metrics, Signal::Logs]);
    let c = load_with(Some("signals: [traces]\n"), &[]).unwrap();
    assert_eq!(c.signals, vec![Signal::Traces]);
    assert!(load_with(None, &["-signals=metric"]).is_err());
}

#[test]
fn errors_name_the_yaml_path() {
    let cases: &[(Option<&str>, &[&str], &str)] = &[
        (
            Some("ingester:\n  metrics:\n    replication_factr: 3\n"),
            &[],
            "ingester.metrics",
        ),
        (
            None,
            &["-ingester.metrics.replication-factor=x"],
            "ingester.metrics.replication_factor",
        ),
        (None, &["-ingester.nope=1"], "ingester.nope"),
        (
            Some("limits:\n  creation_grace_period: soon\n"),
            &[],
            "limits.creation_grace_period",
        ),
    ];
    for (file, flags, path) in cases {
        let err = load_with(*file, flags).expect_err("must fail");
        assert!(err.contains(path), "error {err:?} should name {path}");
    }
}

#[test]
fn print_config_output_loads_back() {
    let c = load_with(
        None,
        &[
            "-ingester.metrics.replication-factor=1",
            "-memberlist.join-members=a:7946,b:7946",
        ],
    )
    .unwrap();
    assert_eq!(
        c.memberlist.join_members,
        vec!["a:7946".to_string(), "b:7946".to_string()]
    );
    let again = load_with(Some(&to_yaml(&c)), &[]).unwrap();
    assert_eq!(again, c);
}

#[test]
fn example_configs_load() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&examples).expect("examples/ exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".yaml") || name.starts_with("runtime-") {
            continue;
        }
        let yaml = std::fs::read_to_string(&path).unwrap();
        let config = load_with(Some(&yaml), &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        config.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        loaded += 1;
    }
    assert!(loaded >= 4, "expected the example configs, loaded {loaded}");
}
