//! `CompactorConfig`, the root config's `compactor:` block.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sextant_ring::LifecyclerConfig;

use crate::deletion::DEFAULT_DELETE_REQUEST_CANCEL_PERIOD;
use crate::error::CompactorError;

const HOUR: Duration = Duration::from_secs(3600);

/// The `compactor:` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactorConfig {
    /// How often a compaction pass runs (plus one shortly after start).
    #[serde(with = "sextant_model::duration")]
    pub compaction_interval: Duration,
    /// Aligned ranges blocks are compacted into, ascending; the first is the ingesters'
    /// block range.
    #[serde(with = "durations")]
    pub block_ranges: Vec<Duration>,
    /// Level-1 blocks uploaded more recently than this are left alone, so that every replica
    /// of a range is in before it is merged.
    #[serde(with = "sextant_model::duration")]
    pub first_level_compaction_wait_period: Duration,
    /// Blocks marked for deletion are deleted after this; must exceed the queriers' bucket
    /// index cache so that no running query loses a block.
    #[serde(with = "sextant_model::duration")]
    pub deletion_delay: Duration,
    /// Blocks without `meta.json` (uploads cut short) older than this are deleted; 0 disables.
    #[serde(with = "sextant_model::duration")]
    pub partial_block_deletion_delay: Duration,
    /// Compaction jobs run at once.
    pub max_concurrent_jobs: usize,
    /// How long a log deletion request stays cancellable before the compactor applies it.
    #[serde(with = "sextant_model::duration")]
    pub delete_request_cancel_period: Duration,
    /// This compactor in the `compactor-<signal>` rings (RF 1).
    pub ring: LifecyclerConfig,
    pub downsampling: DownsamplingConfig,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        CompactorConfig {
            compaction_interval: HOUR,
            block_ranges: vec![2 * HOUR, 12 * HOUR, 24 * HOUR],
            first_level_compaction_wait_period: Duration::from_secs(25 * 60),
            deletion_delay: 12 * HOUR,
            partial_block_deletion_delay: 24 * HOUR,
            max_concurrent_jobs: 1,
            delete_request_cancel_period: DEFAULT_DELETE_REQUEST_CANCEL_PERIOD,
            ring: LifecyclerConfig::default(),
            downsampling: DownsamplingConfig::default(),
        }
    }
}

impl CompactorConfig {
    /// Checks what has no sensible fallback (the ring's fields are checked by its lifecycler).
    pub fn validate(&self) -> Result<(), CompactorError> {
        let error = |m: &str| Err(CompactorError::Config(m.to_owned()));
        if self.compaction_interval.is_zero() {
            return error("compactor.compaction_interval must be positive");
        }
        if self.block_ranges.is_empty() || self.block_ranges.iter().any(|r| r.as_millis() == 0) {
            return error("compactor.block_ranges must hold positive durations of at least 1ms");
        }
        if self.block_ranges.windows(2).any(|w| w[1] <= w[0]) {
            return error("compactor.block_ranges must be ascending");
        }
        if self
            .block_ranges
            .windows(2)
            .any(|w| w[1].as_millis() % w[0].as_millis() != 0)
        {
            return error("compactor.block_ranges: each range must be a multiple of the previous");
        }
        if self.max_concurrent_jobs == 0 {
            return error("compactor.max_concurrent_jobs must be positive");
        }
        self.downsampling.validate()
    }

    /// `block_ranges` in ms.
    pub fn block_ranges_ms(&self) -> Vec<i64> {
        self.block_ranges.iter().map(|r| duration_ms(*r)).collect()
    }
}

/// The `compactor.downsampling` block (Thanos defaults): raw blocks older than `after` get a
/// copy at `resolution`, and the copies of one resolution are merged into aligned windows of
/// `block_range`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DownsamplingConfig {
    pub enabled: bool,
    pub resolutions: Vec<DownsamplingResolution>,
    /// Downsampled blocks of one resolution lying in one aligned window of this range are
    /// merged (Thanos keeps 14 days); 0 disables. A multiple of every resolution.
    #[serde(with = "sextant_model::duration")]
    pub block_range: Duration,
}

impl Default for DownsamplingConfig {
    fn default() -> Self {
        DownsamplingConfig {
            enabled: true,
            resolutions: vec![
                DownsamplingResolution {
                    resolution: Duration::from_secs(5 * 60),
                    after: 40 * HOUR,
                },
                DownsamplingResolution {
                    resolution: HOUR,
                    after: 10 * 24 * HOUR,
                },
            ],
            block_range: 14 * 24 * HOUR,
        }
    }
}

impl DownsamplingConfig {
    /// Resolutions must be positive whole ms, ascending, each a multiple of the previous (a
    /// level is computed from the one before it), with ascending `after`.
    pub fn validate(&self) -> Result<(), CompactorError> {
        let error = |m: &str| Err(CompactorError::Config(m.to_owned()));
        let ms: Vec<i64> = self
            .resolutions
            .iter()
            .map(|r| duration_ms(r.resolution))
            .collect();
        if ms.iter().any(|r| *r <= 0) {
            return error("compactor.downsampling.resolutions: resolution must be at least 1ms");
        }
        if ms.windows(2).any(|w| w[1] <= w[0] || w[1] % w[0] != 0) {
            return error("compactor.downsampling.resolutions must be ascending, each a multiple of the previous");
        }
        if self.resolutions.windows(2).any(|w| w[1].after < w[0].after) {
            return error("compactor.downsampling.resolutions: `after` must not decrease");
        }
        let range_ms = duration_ms(self.block_range);
        if range_ms > 0 && ms.iter().any(|r| range_ms % r != 0) {
            return error(
                "compactor.downsampling.block_range must be 0 or a multiple of every resolution",
            );
        }
        Ok(())
    }

    /// `block_range` in ms; 0 when downsampling is disabled.
    pub fn block_range_ms(&self) -> i64 {
        if self.enabled {
            duration_ms(self.block_range)
        } else {
            0
        }
    }
}

/// One downsampling level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownsamplingResolution {
    #[serde(with = "sextant_model::duration")]
    pub resolution: Duration,
    #[serde(with = "sextant_model::duration")]
    pub after: Duration,
}

/// A duration in whole ms, saturating.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Serde of a list of `"2h"`-style durations.
mod durations {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    struct One(#[serde(with = "sextant_model::duration")] Duration);

    pub fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        let list: Vec<One> = v.iter().map(|d| One(*d)).collect();
        list.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        let list = Vec::<One>::deserialize(d)?;
        Ok(list.into_iter().map(|One(d)| d).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_validate() {
        let config = CompactorConfig::default();
        config.validate().unwrap();
        let json = serde_json::to_string(&config).unwrap();
        assert!(
            json.contains(r#""block_ranges":["2h","12h","1d"]"#),
            "{json}"
        );
        assert!(json.contains(r#""block_range":"14d""#), "{json}");
        let back: CompactorConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config);
        assert_eq!(
            config.block_ranges_ms(),
            [7_200_000, 43_200_000, 86_400_000]
        );
    }

    #[test]
    fn partial_blocks_keep_defaults_and_unknown_keys_fail() {
        let config: CompactorConfig =
            serde_json::from_str(r#"{"block_ranges":["1h","4h"],"deletion_delay":"30m"}"#).unwrap();
        assert_eq!(config.block_ranges, [HOUR, 4 * HOUR]);
        assert_eq!(config.deletion_delay, Duration::from_secs(1800));
        assert_eq!(config.compaction_interval, HOUR);
        assert_eq!(
            config.delete_request_cancel_period,
            Duration::from_secs(600)
        );
        let config: CompactorConfig =
            serde_json::from_str(r#"{"delete_request_cancel_period":"1h"}"#).unwrap();
        assert_eq!(config.delete_request_cancel_period, HOUR);
        assert!(serde_json::from_str::<CompactorConfig>(r#"{"nope":1}"#).is_err());
        assert!(serde_json::from_str::<CompactorConfig>(r#"{"downsampling":{"nope":1}}"#).is_err());
    }

    #[test]
    fn invalid_values_are_rejected() {
        type Mutation = fn(&mut CompactorConfig);
        let cases: Vec<(&str, Mutation)> = vec![
            ("interval", |c| c.compaction_interval = Duration::ZERO),
            ("no ranges", |c| c.block_ranges.clear()),
            ("descending", |c| c.block_ranges = vec![12 * HOUR, 2 * HOUR]),
            ("not multiple", |c| {
                c.block_ranges = vec![2 * HOUR, 3 * HOUR]
            }),
            ("jobs", |c| c.max_concurrent_jobs = 0),
            ("zero resolution", |c| {
                c.downsampling.resolutions[0].resolution = Duration::ZERO
            }),
            ("resolutions descending", |c| {
                c.downsampling.resolutions.reverse()
            }),
            ("resolution not a multiple", |c| {
                c.downsampling.resolutions[1].resolution = Duration::from_secs(7 * 60)
            }),
            ("after decreasing", |c| {
                c.downsampling.resolutions[1].after = Duration::from_secs(60)
            }),
            ("downsampled range not a multiple of 1h", |c| {
                c.downsampling.block_range = Duration::from_secs(90 * 60)
            }),
            ("downsampled range shorter than 1h", |c| {
                c.downsampling.block_range = Duration::from_secs(10 * 60)
            }),
        ];
        for (name, mutate) in cases {
            let mut config = CompactorConfig::default();
            mutate(&mut config);
            assert!(config.validate().is_err(), "{name}");
        }
        let mut config = CompactorConfig::default();
        config.downsampling.block_range = Duration::from_secs(90 * 60);
        let message = config.validate().unwrap_err().to_string();
        assert!(
            message.contains("compactor.downsampling.block_range"),
            "{message}"
        );
    }

    #[test]
    fn downsampled_block_range_parses_and_zero_disables() {
        let day = 24 * HOUR;
        // (JSON, block_range, enabled, block_range_ms)
        let cases = [
            (r#"{}"#, 14 * day, true, 14 * 86_400_000),
            (r#"{"block_range":"14d"}"#, 14 * day, true, 14 * 86_400_000),
            (r#"{"block_range":"2d"}"#, 2 * day, true, 2 * 86_400_000),
            (r#"{"block_range":"0s"}"#, Duration::ZERO, true, 0),
            (
                r#"{"enabled":false,"block_range":"14d"}"#,
                14 * day,
                false,
                0,
            ),
        ];
        for (json, range, enabled, range_ms) in cases {
            let config: DownsamplingConfig = serde_json::from_str(json).unwrap();
            assert_eq!(config.block_range, range, "{json}");
            assert_eq!(config.enabled, enabled, "{json}");
            assert_eq!(config.block_range_ms(), range_ms, "{json}");
            config.validate().unwrap();
        }
    }
}
