use std::fs;

use super::*;

const GOOD: &str = "groups:\n  - name: g1\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n";
const GOOD_TWO: &str = "groups:\n  - name: g1\n    rules:\n      - record: job:up:sum\n        expr: sum(up)\n  - name: g2\n    rules:\n      - alert: Down\n        expr: up == 0\n";
const LOGS: &str = "groups:\n  - name: lg\n    rules:\n      - alert: Errors\n        expr: 'sum(rate({app=\"x\"} |= \"error\" [1m])) > 0'\n";

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn names(namespaces: &RuleNamespaces) -> Vec<(String, Vec<String>)> {
    namespaces
        .iter()
        .map(|(ns, gs)| (ns.clone(), gs.iter().map(|g| g.name.clone()).collect()))
        .collect()
}

#[tokio::test]
async fn loads_per_signal_and_tenant_and_skips_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "metrics/a/ns1.yaml", GOOD);
    write(dir.path(), "metrics/a/ns2.yml", GOOD_TWO);
    write(dir.path(), "metrics/a/broken.yaml", "groups: [");
    write(
        dir.path(),
        "metrics/a/bad-expr.yaml",
        &GOOD.replace("sum by (job) (up)", "sum(("),
    );
    write(dir.path(), "metrics/a/notes.txt", "not a rule file");
    write(dir.path(), "metrics/b/ns1.yaml", GOOD);
    write(dir.path(), "metrics/bad tenant/ns.yaml", GOOD);
    write(dir.path(), "logs/a/app.yaml", LOGS);
    let store = LocalRuleStore::new(dir.path());
    let m = Signal::Metrics;

    let a = store.list_groups(m, &tenant("a")).await.unwrap();
    assert_eq!(
        names(&a),
        [
            ("ns1".to_string(), vec!["g1".to_string()]),
            ("ns2".to_string(), vec!["g1".to_string(), "g2".to_string()]),
        ]
    );
    assert_eq!(
        store.list_tenants(m).await.unwrap(),
        [tenant("a"), tenant("b")]
    );
    assert_eq!(
        store.list_tenants(Signal::Logs).await.unwrap(),
        [tenant("a")]
    );
    assert!(store
        .list_groups(Signal::Logs, &tenant("b"))
        .await
        .unwrap()
        .is_empty());
    let g2 = store.get_group(m, &tenant("a"), "ns2", "g2").await.unwrap();
    assert_eq!(g2.rules[0].alert.as_deref(), Some("Down"));
    let missing = store.get_group(m, &tenant("b"), "ns2", "g2").await;
    assert!(matches!(missing, Err(RulerError::GroupNotFound)));
    // a broken file still names a local namespace (it cannot be written through the API)
    assert_eq!(
        store.namespaces(m, &tenant("a")).await.unwrap(),
        ["bad-expr", "broken", "ns1", "ns2"]
    );
}

#[tokio::test]
async fn reloads_changed_added_and_removed_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "metrics/a/ns1.yaml", GOOD);
    let store = LocalRuleStore::new(dir.path());
    let (m, a) = (Signal::Metrics, tenant("a"));
    assert_eq!(store.list_groups(m, &a).await.unwrap()["ns1"].len(), 1);

    write(dir.path(), "metrics/a/ns1.yaml", GOOD_TWO);
    assert_eq!(store.list_groups(m, &a).await.unwrap()["ns1"].len(), 2);

    // a file that breaks drops out; fixing it brings it back
    write(dir.path(), "metrics/a/ns1.yaml", "groups: [ oops");
    assert!(store.list_groups(m, &a).await.unwrap().is_empty());
    write(dir.path(), "metrics/a/ns1.yaml", GOOD);
    write(dir.path(), "metrics/a/ns3.yaml", GOOD_TWO);
    let got = store.list_groups(m, &a).await.unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), ["ns1", "ns3"]);

    fs::remove_file(dir.path().join("metrics/a/ns1.yaml")).unwrap();
    let got = store.list_groups(m, &a).await.unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), ["ns3"]);
}

#[tokio::test]
async fn missing_directory_is_empty_and_writes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalRuleStore::new(dir.path().join("nope"));
    let (m, a) = (Signal::Metrics, tenant("a"));
    assert!(store.list_tenants(m).await.unwrap().is_empty());
    assert!(store.list_groups(m, &a).await.unwrap().is_empty());
    let group = RuleGroupDesc::default();
    let refused = [
        store.put_group(m, &a, "ns", &group).await,
        store.delete_group(m, &a, "ns", "g").await,
        store.delete_namespace(m, &a, "ns").await,
    ];
    for result in refused {
        let err = result.unwrap_err();
        assert!(matches!(err, RulerError::ReadOnly { .. }), "{err}");
        assert_eq!(err.kind(), sextant_model::ErrorKind::BadRequest);
    }
}
