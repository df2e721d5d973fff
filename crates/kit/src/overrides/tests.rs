use std::io::Write;

use super::*;

fn global() -> TenantLimits {
    TenantLimits {
        ingestion_rate: 500.0,
        max_label_names_per_series: 40,
        ..TenantLimits::default()
    }
}

fn write(path: &Path, text: &str) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn setup(text: &str) -> (tempfile::TempDir, PathBuf, Overrides, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overrides.yaml");
    write(&path, text);
    let config = OverridesConfig {
        file: path.display().to_string(),
        period: Duration::from_secs(10),
    };
    let mut registry = Registry::default();
    let overrides = Overrides::new(global(), &config, &mut registry).unwrap();
    (dir, path, overrides, registry)
}

fn metrics_text(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
    out
}

#[test]
fn tenant_block_merges_onto_global_limits() {
    let (_dir, _path, overrides, _) = setup("overrides:\n  team-a:\n    ingestion_rate: 5\n");
    let a = overrides.limits(&tenant("team-a"));
    assert_eq!(a.ingestion_rate, 5.0);
    assert_eq!(
        a.max_label_names_per_series, 40,
        "unset keys come from the global limits"
    );
    assert_eq!(*overrides.limits(&tenant("team-b")), global());
}

#[test]
fn reload_sees_changes_and_keeps_last_good_on_error() {
    let (_dir, path, overrides, registry) = setup("overrides:\n  team-a:\n    ingestion_rate: 5\n");
    write(&path, "overrides:\n  team-a:\n    ingestion_rate: 7\n");
    overrides.reload().unwrap();
    assert_eq!(overrides.limits(&tenant("team-a")).ingestion_rate, 7.0);

    let broken = [
        ("overrides: [unclosed", "parsing"),
        (
            "overrides:\n  team-a:\n    ingestion_rat: 1\n",
            "overrides.team-a",
        ),
        (
            "overrides:\n  team-a:\n    ingestion_rate: fast\n",
            "overrides.team-a.ingestion_rate: invalid type",
        ),
        (
            "overrides:\n  a/b:\n    ingestion_rate: 1\n",
            "overrides.a/b: tenant id contains",
        ),
        ("overides: {}\n", "unknown field `overides`"),
    ];
    for (text, want) in broken {
        write(&path, text);
        let err = overrides.reload().unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
        assert_eq!(
            overrides.limits(&tenant("team-a")).ingestion_rate,
            7.0,
            "{text:?}"
        );
    }
    let text = metrics_text(&registry);
    assert!(
        text.contains("sextant_runtime_config_last_reload_successful 0"),
        "{text}"
    );
    assert!(
        text.contains("sextant_runtime_config_reloads_total{result=\"failure\"} 5"),
        "{text}"
    );
    assert!(
        text.contains("sextant_runtime_config_reloads_total{result=\"success\"} 2"),
        "{text}"
    );

    write(&path, "");
    overrides.reload().unwrap();
    assert_eq!(
        *overrides.limits(&tenant("team-a")),
        global(),
        "an empty file removes all overrides"
    );
    assert!(metrics_text(&registry).contains("sextant_runtime_config_last_reload_successful 1"));
}

#[test]
fn broken_file_fails_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overrides.yaml");
    write(&path, "overrides: 3");
    let config = OverridesConfig {
        file: path.display().to_string(),
        ..OverridesConfig::default()
    };
    assert!(Overrides::new(global(), &config, &mut Registry::default()).is_err());
    let missing = OverridesConfig {
        file: dir.path().join("nope").display().to_string(),
        ..config
    };
    let err = Overrides::new(global(), &missing, &mut Registry::default()).err();
    assert!(matches!(err, Some(ConfigError::ReadFile { .. })));
}

#[test]
fn no_file_means_global_limits() {
    let overrides = Overrides::fixed(global());
    assert_eq!(*overrides.limits(&tenant("x")), global());
}

#[tokio::test]
async fn no_file_no_reloader() {
    assert!(Overrides::fixed(global())
        .spawn_reloader(CancellationToken::new())
        .is_none());
}

#[tokio::test(start_paused = true)]
async fn reloader_picks_up_changes() {
    let (_dir, path, overrides, _) = setup("overrides:\n  t:\n    ingestion_rate: 1\n");
    let cancel = CancellationToken::new();
    let task = overrides.spawn_reloader(cancel.clone()).unwrap();
    write(&path, "overrides:\n  t:\n    ingestion_rate: 2\n");
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if overrides.limits(&tenant("t")).ingestion_rate == 2.0 {
            break;
        }
    }
    assert_eq!(overrides.limits(&tenant("t")).ingestion_rate, 2.0);
    cancel.cancel();
    task.await.unwrap();
}
