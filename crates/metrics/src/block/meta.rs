//! `meta.json`: what a block holds, readable without the index.

use serde::{Deserialize, Serialize};

use super::BlockError;

/// The block format this build writes; readers dispatch on [`BlockMeta::version`].
/// Version 2 added native histogram chunks, version 3 decimal float chunks (index version 3,
/// chunks file version 2); version 1 and 2 blocks stay readable.
pub const BLOCK_FORMAT_VERSION: u32 = 3;

/// The oldest block format this build reads.
pub const MIN_BLOCK_FORMAT_VERSION: u32 = 1;

/// The contents of `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    pub version: u32,
    pub block_id: String,
    /// Earliest sample timestamp (inclusive).
    pub min_time_ms: i64,
    /// Latest sample timestamp (inclusive).
    pub max_time_ms: i64,
    pub stats: BlockStats,
    pub source_ingester: String,
    pub compaction: BlockCompaction,
    pub tenant: String,
    /// The resolution of a downsampled block; absent (raw) in blocks of raw samples.
    #[serde(default, skip_serializing_if = "BlockDownsample::is_raw")]
    pub downsample: BlockDownsample,
}

/// `meta.json`'s `downsample`: a downsampled block's window length (see
/// [`crate::downsample`]); `0` for raw samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDownsample {
    pub resolution_ms: i64,
}

impl BlockDownsample {
    /// Whether the block holds raw samples.
    pub fn is_raw(&self) -> bool {
        self.resolution_ms == 0
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    pub series: u64,
    /// Float samples.
    pub samples: u64,
    /// Native histogram samples (absent in version 1).
    #[serde(default)]
    pub histograms: u64,
    /// Float and histogram chunks.
    pub chunks: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockCompaction {
    /// 1 for a block cut from a head; a compacted block is one more than its highest source.
    pub level: u32,
    /// Ids of the blocks this one replaces (its own id for a level-1 block).
    pub sources: Vec<String>,
}

/// The fields of [`BlockMeta`] the caller supplies; the writer fills in times and stats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockSource {
    pub block_id: String,
    pub tenant: String,
    pub source_ingester: String,
    pub compaction: BlockCompaction,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

impl BlockMeta {
    /// Parses `meta.json`, rejecting versions this build cannot read before looking at the
    /// rest (a newer version may change any other field).
    pub fn from_json(bytes: &[u8]) -> Result<BlockMeta, BlockError> {
        let VersionOnly { version } = serde_json::from_slice(bytes)?;
        if !(MIN_BLOCK_FORMAT_VERSION..=BLOCK_FORMAT_VERSION).contains(&version) {
            return Err(BlockError::UnknownMetaVersion(version));
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

    fn meta() -> BlockMeta {
        BlockMeta {
            version: BLOCK_FORMAT_VERSION,
            block_id: "01HZX".into(),
            min_time_ms: 1,
            max_time_ms: 2,
            stats: BlockStats {
                series: 3,
                samples: 4,
                histograms: 6,
                chunks: 5,
            },
            source_ingester: "ingester-1".into(),
            compaction: BlockCompaction {
                level: 1,
                sources: vec!["01HZX".into()],
            },
            tenant: "anonymous".into(),
            downsample: BlockDownsample::default(),
        }
    }

    #[test]
    fn json_round_trip() {
        let m = meta();
        assert_eq!(BlockMeta::from_json(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn downsample_is_omitted_for_raw_blocks_and_round_trips() {
        let raw = meta();
        let json = String::from_utf8(raw.to_json()).unwrap();
        assert!(!json.contains("downsample"), "{json}");
        let mut down = meta();
        down.downsample.resolution_ms = 300_000;
        let json = String::from_utf8(down.to_json()).unwrap();
        assert!(json.contains("\"resolution_ms\": 300000"), "{json}");
        assert_eq!(BlockMeta::from_json(json.as_bytes()).unwrap(), down);
    }

    #[test]
    fn reads_version_1_without_histogram_stats() {
        let v1 = br#"{"version":1,"block_id":"b","min_time_ms":1,"max_time_ms":2,
            "stats":{"series":1,"samples":2,"chunks":1},"source_ingester":"i",
            "compaction":{"level":1,"sources":["b"]},"tenant":"t"}"#;
        let m = BlockMeta::from_json(v1).unwrap();
        assert_eq!((m.version, m.stats.samples, m.stats.histograms), (1, 2, 0));
    }

    #[test]
    fn rejects_unknown_versions_by_number() {
        let mut m = meta();
        m.version = 7;
        let err = BlockMeta::from_json(&m.to_json()).unwrap_err();
        assert!(matches!(err, BlockError::UnknownMetaVersion(7)), "{err}");
        assert!(err.to_string().contains("version 7"), "{err}");
        // a future version may drop fields: still the version error, not a parse error
        let err = BlockMeta::from_json(br#"{"version": 4}"#).unwrap_err();
        assert!(matches!(err, BlockError::UnknownMetaVersion(4)), "{err}");
        assert!(matches!(
            BlockMeta::from_json(b"{\"version\": 1}"),
            Err(BlockError::Meta(_))
        ));
        assert!(BlockMeta::from_json(b"not json").is_err());
    }
}
