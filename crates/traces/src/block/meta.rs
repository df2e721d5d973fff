//! `meta.json`: what a traces block holds, readable without the other files. Field names
//! match the logs block's so the bucket index reads times and compaction alike.

use serde::{Deserialize, Serialize};

use super::TracesBlockError;

/// The traces block format this build writes; readers dispatch on [`TracesBlockMeta::version`].
pub const TRACES_BLOCK_FORMAT_VERSION: u32 = 1;

/// The contents of `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracesBlockMeta {
    pub version: u32,
    pub block_id: String,
    /// Earliest span start in ns (inclusive).
    pub min_time_ns: i64,
    /// Latest span end in ns (inclusive).
    pub max_time_ns: i64,
    pub traces: u64,
    pub spans: u64,
    /// Pages in `data`.
    pub pages: u64,
    /// Sizes of the files, so a reader can fetch them without asking the store first.
    pub data_bytes: u64,
    pub index_bytes: u64,
    pub bloom_bytes: u64,
    pub search_bytes: u64,
    pub source_ingester: String,
    pub compaction: TracesBlockCompaction,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracesBlockCompaction {
    /// 1 for a block cut from a head; a compacted block is one more than its highest source.
    pub level: u32,
    /// Ids of the blocks this one replaces (its own id for a level-1 block).
    pub sources: Vec<String>,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

impl TracesBlockMeta {
    /// Parses `meta.json`, rejecting versions this build cannot read before looking at the
    /// rest (a newer version may change any other field).
    pub fn from_json(bytes: &[u8]) -> Result<TracesBlockMeta, TracesBlockError> {
        let VersionOnly { version } = serde_json::from_slice(bytes)?;
        if version != TRACES_BLOCK_FORMAT_VERSION {
            return Err(TracesBlockError::UnknownMetaVersion(version));
        }
        Ok(serde_json::from_slice(bytes)?)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // a struct of strings and integers always serializes
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn meta() -> TracesBlockMeta {
        TracesBlockMeta {
            version: TRACES_BLOCK_FORMAT_VERSION,
            block_id: "01J".into(),
            min_time_ns: 1,
            max_time_ns: 2,
            traces: 3,
            spans: 30,
            pages: 1,
            data_bytes: 100,
            index_bytes: 50,
            bloom_bytes: 20,
            search_bytes: 40,
            source_ingester: "ingester-1".into(),
            compaction: TracesBlockCompaction {
                level: 1,
                sources: vec!["01J".into()],
            },
        }
    }

    #[test]
    fn json_round_trip_and_version_check() {
        let m = meta();
        assert_eq!(TracesBlockMeta::from_json(&m.to_json()).unwrap(), m);
        let err = TracesBlockMeta::from_json(br#"{"version": 9}"#).unwrap_err();
        assert!(
            matches!(err, TracesBlockError::UnknownMetaVersion(9)),
            "{err}"
        );
        assert!(matches!(
            TracesBlockMeta::from_json(br#"{"version": 1}"#),
            Err(TracesBlockError::Meta(_))
        ));
    }

    #[test]
    fn bucket_index_fields_are_present() {
        let v: serde_json::Value = serde_json::from_slice(&meta().to_json()).unwrap();
        for field in ["block_id", "min_time_ns", "max_time_ns", "source_ingester"] {
            assert!(v.get(field).is_some(), "{field}");
        }
        assert_eq!(v["compaction"]["level"], 1);
        assert_eq!(v["compaction"]["sources"][0], "01J");
    }

    proptest! {
        #[test]
        fn changed_json_never_panics(at in 0usize..400, byte in any::<u8>()) {
            let mut json = meta().to_json();
            let at = at % json.len();
            json[at] = byte;
            let _ = TracesBlockMeta::from_json(&json);
        }
    }
}
