//! Keeps the dependency direction of DESIGN.md §5: dependencies point downward only,
//! components never depend on each other, engines never depend on each other, on `ring` or on
//! the network, and `model` depends on nothing.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// Layer of each internal crate (by directory noun). Harness crates may depend on anything.
fn layer(noun: &str) -> Option<u8> {
    Some(match noun {
        "model" | "proto" | "kit" => 0,
        "ring" | "storage" | "wal" => 1,
        "metrics" | "logs" | "traces" => 2,
        "distributor" | "ingester" | "querier" | "query-frontend" | "compactor" | "ruler" => 3,
        "server" => 4,
        _ => return None,
    })
}

const HARNESS: &[&str] = &["sextant-e2e", "sextant-benches"];
const NETWORK_CRATES: &[&str] = &[
    "tonic",
    "axum",
    "hyper",
    "reqwest",
    "memberlist",
    "object_store",
];

/// (package name → (normal dependency names)) for every workspace member.
fn workspace_deps() -> BTreeMap<String, Vec<String>> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata json");
    let mut out = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().unwrap_or_default().to_string();
        let deps = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null()) // normal dependencies; dev/build are free
            .map(|d| d["name"].as_str().unwrap_or_default().to_string())
            .collect();
        out.insert(name, deps);
    }
    out
}

fn noun(package: &str) -> Option<&str> {
    package.strip_prefix("sextant-")
}

#[test]
fn dependencies_point_downward() {
    let packages = workspace_deps();
    let mut violations = Vec::new();
    for (package, deps) in &packages {
        assert!(
            !matches!(noun(package), Some("common" | "utils" | "util" | "shared")),
            "{package}: no common/utils crates (DESIGN.md §5)"
        );
        if HARNESS.contains(&package.as_str()) {
            continue;
        }
        let own = noun(package)
            .and_then(layer)
            .unwrap_or_else(|| panic!("{package} has no layer in DESIGN.md §5"));
        for dep in deps {
            if let Some(dep_layer) = noun(dep).and_then(layer) {
                let allowed = dep_layer < own
                    || (own == 0 && dep == "sextant-model" && package != "sextant-model");
                if !allowed {
                    violations.push(format!(
                        "{package} (layer {own}) depends on {dep} (layer {dep_layer})"
                    ));
                }
            }
            if own == 2 && (NETWORK_CRATES.contains(&dep.as_str()) || dep == "sextant-ring") {
                violations.push(format!(
                    "engine {package} depends on {dep} (engines stay off the network and the ring)"
                ));
            }
        }
        if package == "sextant-model" {
            let internal: Vec<_> = deps.iter().filter(|d| d.starts_with("sextant-")).collect();
            if !internal.is_empty() {
                violations.push(format!("sextant-model depends on {internal:?}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "dependency rules of DESIGN.md §5 broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_member_has_a_layer_or_is_a_harness() {
    for package in workspace_deps().keys() {
        assert!(
            HARNESS.contains(&package.as_str()) || noun(package).and_then(layer).is_some(),
            "{package} is not in the layer table of DESIGN.md §5"
        );
    }
}
