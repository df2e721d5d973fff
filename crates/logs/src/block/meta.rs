//! `meta.json`: what a logs block holds, readable without the index.

use serde::{Deserialize, Serialize};

use super::LogsBlockError;

/// The logs block format this build writes; readers dispatch on [`LogsBlockMeta::version`].
pub const LOGS_BLOCK_FORMAT_VERSION: u32 = 1;

/// The contents of `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsBlockMeta {
    pub version: u32,
    pub block_id: String,
    /// Earliest entry time in ns (inclusive).
    pub min_time_ns: i64,
    /// Latest entry time in ns (inclusive).
    pub max_time_ns: i64,
    pub stats: LogsBlockStats,
    pub source_ingester: String,
    pub compaction: LogsBlockCompaction,
    pub tenant: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsBlockStats {
    pub streams: u64,
    pub entries: u64,
    pub chunks: u64,
    /// Bytes of log lines (uncompressed).
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsBlockCompaction {
    /// 1 for a block cut from a head; a compacted block is one more than its highest source.
    pub level: u32,
    /// Ids of the blocks this one replaces (its own id for a level-1 block).
    pub sources: Vec<String>,
}

/// The fields of [`LogsBlockMeta`] the caller supplies; the writer fills in times and stats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsBlockSource {
    pub block_id: String,
    pub tenant: String,
    pub source_ingester: String,
    pub compaction: LogsBlockCompaction,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

impl LogsBlockMeta {
    /// Parses `meta.json`, rejecting versions this build cannot read before looking at the
    /// rest (a newer version may change any other field).
    pub fn from_json(bytes: &[u8]) -> Result<LogsBlockMeta, LogsBlockError> {
        let VersionOnly { version } = serde_json::from_slice(bytes)?;
        if version != LOGS_BLOCK_FORMAT_VERSION {
            return Err(LogsBlockError::UnknownMetaVersion(version));
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
    use super::*;

    #[test]
    fn json_round_trip_and_version_check() {
        let m = LogsBlockMeta {
            version: LOGS_BLOCK_FORMAT_VERSION,
            block_id: "01J".into(),
            min_time_ns: 1,
            max_time_ns: 2,
            stats: LogsBlockStats {
                streams: 1,
                entries: 2,
                chunks: 1,
                bytes: 10,
            },
            source_ingester: "ingester-1".into(),
            compaction: LogsBlockCompaction {
                level: 1,
                sources: vec!["01J".into()],
            },
            tenant: "anonymous".into(),
        };
        assert_eq!(LogsBlockMeta::from_json(&m.to_json()).unwrap(), m);
        let err = LogsBlockMeta::from_json(br#"{"version": 9}"#).unwrap_err();
        assert!(
            matches!(err, LogsBlockError::UnknownMetaVersion(9)),
            "{err}"
        );
        assert!(matches!(
            LogsBlockMeta::from_json(br#"{"version": 1}"#),
            Err(LogsBlockError::Meta(_))
        ));
    }
}
