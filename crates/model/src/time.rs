//! Millisecond timestamps (Prometheus' unit) and inclusive ranges.

/// An inclusive range `[start_ms, end_ms]` of Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl TimeRange {
    pub const ALL: TimeRange = TimeRange {
        start_ms: i64::MIN,
        end_ms: i64::MAX,
    };

    pub fn new(start_ms: i64, end_ms: i64) -> Self {
        TimeRange { start_ms, end_ms }
    }

    pub fn contains(&self, ts_ms: i64) -> bool {
        ts_ms >= self.start_ms && ts_ms <= self.end_ms
    }

    /// Whether the two inclusive ranges share at least one millisecond.
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.start_ms <= other.end_ms && other.start_ms <= self.end_ms
    }
}
