//! Object keys. Every key Sextant writes is computed here, nowhere else:
//! `<signal>/<tenant>/<block-id>/<file>`, where `file` may hold `/` (e.g. `chunks/000001`), and
//! the tenant's `<signal>/<tenant>/bucket-index.json`. Rule groups live apart, one object per
//! group: `rules/<tenant>/<namespace>/<group>` (metrics), `rules-<signal>/...` (other signals).

use object_store::path::{Path, PathPart};
use sextant_model::{Signal, TenantId};

/// The file whose presence marks a block complete (uploaded last).
pub const BLOCK_META_FILE: &str = "meta.json";

/// The file whose presence marks a block for deletion: queriers stop reading it (a block that
/// replaces it is complete), the compactor deletes it once the mark is older than its delay.
pub const DELETION_MARK_FILE: &str = "deletion-mark.json";

/// The key of the marker that asks the compactor to delete all of a tenant's data for `signal`.
pub fn tenant_deletion_mark_key(signal: Signal, tenant: &TenantId) -> Path {
    tenant_prefix(signal, tenant)
        .parts()
        .chain([PathPart::from("tenant-deletion-mark.json")])
        .collect()
}

/// The root of the deletion requests of `signal`: `deletion-requests/<signal>/`, outside the
/// `<signal>/` tree so that no request is ever taken for a tenant or a block.
pub fn deletion_requests_root(signal: Signal) -> Path {
    Path::from_iter(["deletion-requests", signal.as_str()])
}

/// The prefix of `tenant`'s deletion requests for `signal`.
pub fn deletion_requests_prefix(signal: Signal, tenant: &TenantId) -> Path {
    deletion_requests_root(signal)
        .parts()
        .chain([PathPart::from(tenant.as_str())])
        .collect()
}

/// The key of one deletion request: `deletion-requests/<signal>/<tenant>/<id>.json`.
pub fn deletion_request_key(signal: Signal, tenant: &TenantId, request_id: &str) -> Path {
    deletion_requests_prefix(signal, tenant)
        .parts()
        .chain([PathPart::from(format!("{request_id}.json"))])
        .collect()
}

/// The key of the tenant's bucket index for `signal`.
pub fn bucket_index_key(signal: Signal, tenant: &TenantId) -> Path {
    tenant_prefix(signal, tenant)
        .parts()
        .chain([PathPart::from("bucket-index.json")])
        .collect()
}

/// The key of `file` in block `block_id` of `tenant` for `signal`.
pub fn block_object_key(signal: Signal, tenant: &TenantId, block_id: &str, file: &str) -> Path {
    let file_parts = file
        .split('/')
        .filter(|p| !p.is_empty())
        .map(PathPart::from);
    block_prefix(signal, tenant, block_id)
        .parts()
        .chain(file_parts)
        .collect()
}

/// The prefix under which all of one block's files live.
pub fn block_prefix(signal: Signal, tenant: &TenantId, block_id: &str) -> Path {
    tenant_prefix(signal, tenant)
        .parts()
        .chain([PathPart::from(block_id)])
        .collect()
}

/// The prefix under which all blocks of `tenant` for `signal` live.
pub fn tenant_prefix(signal: Signal, tenant: &TenantId) -> Path {
    Path::from_iter([signal.as_str(), tenant.as_str()])
}

/// The root under which the rule groups of `signal` live: `rules` for metrics (as in Mimir),
/// `rules-<signal>` for the others (`rules-logs`).
pub fn rules_root(signal: Signal) -> Path {
    match signal {
        Signal::Metrics => Path::from("rules"),
        other => Path::from(format!("rules-{}", other.as_str())),
    }
}

/// The prefix under which all rule groups of `tenant` for `signal` live.
pub fn rules_tenant_prefix(signal: Signal, tenant: &TenantId) -> Path {
    rules_root(signal)
        .parts()
        .chain([PathPart::from(tenant.as_str())])
        .collect()
}

/// The prefix under which the rule groups of one namespace live; the namespace is escaped, so
/// any text (even `a/b` or `..`) stays one key part.
pub fn rules_namespace_prefix(signal: Signal, tenant: &TenantId, namespace: &str) -> Path {
    rules_tenant_prefix(signal, tenant)
        .parts()
        .chain([PathPart::from(namespace)])
        .collect()
}

/// The key of rule group `group` (escaped like the namespace) in `namespace`.
pub fn rule_group_key(signal: Signal, tenant: &TenantId, namespace: &str, group: &str) -> Path {
    rules_namespace_prefix(signal, tenant, namespace)
        .parts()
        .chain([PathPart::from(group)])
        .collect()
}

/// The text a key part was made from: the inverse of the escaping `PathPart::from` applies
/// (percent-encoding, `%` itself included). `None` when the result is not UTF-8.
pub fn decode_key_part(part: &str) -> Option<String> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_layout() {
        let t = TenantId::parse("team-a").unwrap();
        let cases = [
            (
                Signal::Metrics,
                "01HX",
                "meta.json",
                "metrics/team-a/01HX/meta.json",
            ),
            (
                Signal::Logs,
                "01HY",
                "chunks/000001",
                "logs/team-a/01HY/chunks/000001",
            ),
            (
                Signal::Traces,
                "b",
                "/data.parquet",
                "traces/team-a/b/data.parquet",
            ),
        ];
        for (signal, block, file, want) in cases {
            assert_eq!(block_object_key(signal, &t, block, file).as_ref(), want);
        }
        assert_eq!(
            tenant_prefix(Signal::Metrics, &t).as_ref(),
            "metrics/team-a"
        );
        assert_eq!(
            block_prefix(Signal::Logs, &t, "b1").as_ref(),
            "logs/team-a/b1"
        );
        assert_eq!(
            bucket_index_key(Signal::Traces, &t).as_ref(),
            "traces/team-a/bucket-index.json"
        );
        assert_eq!(
            deletion_request_key(Signal::Logs, &t, "00ab").as_ref(),
            "deletion-requests/logs/team-a/00ab.json"
        );
        assert_eq!(
            deletion_requests_prefix(Signal::Logs, &t).as_ref(),
            "deletion-requests/logs/team-a"
        );
        let escaped = deletion_request_key(Signal::Logs, &t, "../x");
        assert!(escaped.prefix_matches(&deletion_requests_prefix(Signal::Logs, &t)));
    }

    #[test]
    fn keys_stay_under_their_prefix() {
        let t = TenantId::parse("t").unwrap();
        let key = block_object_key(Signal::Metrics, &t, "b/../x", "../../escape");
        assert!(
            key.prefix_matches(&block_prefix(Signal::Metrics, &t, "b/../x")),
            "{key}"
        );
        assert!(
            key.prefix_matches(&tenant_prefix(Signal::Metrics, &t)),
            "{key}"
        );
    }

    #[test]
    fn rule_keys() {
        let t = TenantId::parse("team-a").unwrap();
        let cases = [
            (Signal::Metrics, "ns", "g", "rules/team-a/ns/g"),
            (Signal::Logs, "ns", "g", "rules-logs/team-a/ns/g"),
            (Signal::Metrics, "a/b", "..", "rules/team-a/a%2Fb/%2E%2E"),
            (Signal::Metrics, "50%", "x y", "rules/team-a/50%25/x y"),
        ];
        for (signal, namespace, group, want) in cases {
            let key = rule_group_key(signal, &t, namespace, group);
            assert_eq!(key.as_ref(), want);
            assert!(key.prefix_matches(&rules_namespace_prefix(signal, &t, namespace)));
            assert!(key.prefix_matches(&rules_tenant_prefix(signal, &t)));
            let parts: Vec<_> = key.parts().collect();
            assert_eq!(decode_key_part(parts[2].as_ref()).unwrap(), namespace);
            assert_eq!(decode_key_part(parts[3].as_ref()).unwrap(), group);
        }
    }

    #[test]
    fn decode_inverts_key_part_escaping() {
        // every ASCII character alone and inside text, plus non-ASCII and encoded-looking text
        let mut cases: Vec<String> = (0u8..128).map(|b| char::from(b).to_string()).collect();
        cases.extend((0u8..128).map(|b| format!("a{}b%2F", char::from(b))));
        cases.extend(["é/ü", "日本", "%", "%%41", "%zz", ".", "..", ""].map(String::from));
        for text in cases {
            let part = PathPart::from(text.as_str());
            assert_eq!(
                decode_key_part(part.as_ref()),
                Some(text.clone()),
                "{text:?}"
            );
        }
    }
}
