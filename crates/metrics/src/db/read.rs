//! Label, series and metadata queries over the head, restricted to series with data in a time
//! range, and the in-memory metric metadata store.

use std::collections::{BTreeMap, BTreeSet};

use sextant_model::{Labels, Matcher, TimeRange};

use super::TenantDb;
use crate::write::MetricMetadata;

/// The latest metadata received for one metric family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMetadata {
    pub metric_family_name: String,
    /// The remote write 1.0 enum value (0 unknown, 1 counter, 2 gauge, ...).
    pub metric_type: i32,
    pub help: String,
    pub unit: String,
}

/// Metric metadata per family name. Kept in memory only: Prometheus resends all metadata every
/// minute (`metadata_config.send_interval`), so a restart forgets it for at most that long.
pub(super) type MetadataStore = BTreeMap<String, StoredMetadata>;

impl TenantDb {
    /// Stores the latest metadata of each family in `metadata`.
    pub(super) fn record_metadata(&self, metadata: &[MetricMetadata<'_>]) {
        if metadata.is_empty() {
            return;
        }
        let mut store = self.metadata.lock();
        for md in metadata {
            let same = store.get(md.metric_family_name).is_some_and(|m| {
                m.metric_type == md.metric_type && m.help == md.help && m.unit == md.unit
            });
            if !same && !md.metric_family_name.is_empty() {
                store.insert(
                    md.metric_family_name.to_owned(),
                    StoredMetadata {
                        metric_family_name: md.metric_family_name.to_owned(),
                        metric_type: md.metric_type,
                        help: md.help.to_owned(),
                        unit: md.unit.to_owned(),
                    },
                );
            }
        }
    }

    /// Metadata sorted by family name: one family, or all when `metric` is empty; at most
    /// `limit` families (0 = no limit).
    pub fn metadata(&self, metric: &str, limit: usize) -> Vec<StoredMetadata> {
        let store = self.metadata.lock();
        let limit = if limit == 0 { usize::MAX } else { limit };
        match metric {
            "" => store.values().take(limit).cloned().collect(),
            name => store.get(name).cloned().into_iter().collect(),
        }
    }

    /// Whether every series of the head is known to have data in `range`, so that
    /// range-restricted listings can use the postings alone.
    fn covers_head(&self, range: TimeRange) -> bool {
        self.head
            .time_range()
            .is_some_and(|(min, max)| range.contains(min) && range.contains(max))
    }

    /// Calls `f` with the labels of each series matching `matchers` with data in `range`.
    fn for_each_series(&self, range: TimeRange, matchers: &[Matcher], mut f: impl FnMut(Labels)) {
        for s in self.head.select(matchers) {
            if s.state.lock().has_data_in(range) {
                f(self.head.labels_of(&s));
            }
        }
    }

    /// Label names of the series matching `matchers` with data in `range`, sorted.
    pub fn label_names(&self, range: TimeRange, matchers: &[Matcher]) -> Vec<String> {
        if matchers.is_empty() && self.covers_head(range) {
            return self.head.label_names();
        }
        let mut names = BTreeSet::new();
        self.for_each_series(range, matchers, |labels| {
            for l in &labels {
                if !names.contains(&l.name) {
                    names.insert(l.name.clone());
                }
            }
        });
        names.into_iter().collect()
    }

    /// Values of label `name` over the same selection as [`TenantDb::label_names`], sorted.
    pub fn label_values(&self, name: &str, range: TimeRange, matchers: &[Matcher]) -> Vec<String> {
        if matchers.is_empty() && self.covers_head(range) {
            return self.head.label_values(name);
        }
        let mut values = BTreeSet::new();
        self.for_each_series(range, matchers, |labels| {
            if let Some(v) = labels.get(name) {
                if !values.contains(v) {
                    values.insert(v.to_owned());
                }
            }
        });
        values.into_iter().collect()
    }

    /// Label sets of the series matching any of `matcher_sets` with data in `range`, sorted
    /// and unique; at most `limit` (0 = no limit).
    pub fn series(
        &self,
        range: TimeRange,
        matcher_sets: &[Vec<Matcher>],
        limit: usize,
    ) -> Vec<Labels> {
        let mut out = BTreeSet::new();
        for matchers in matcher_sets {
            self.for_each_series(range, matchers, |labels| {
                out.insert(labels);
            });
        }
        let limit = if limit == 0 { usize::MAX } else { limit };
        out.into_iter().take(limit).collect()
    }
}
