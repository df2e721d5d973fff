//! Tempo's per-tenant trace limits in an ingester: `max_traces_per_user` (live traces held by
//! this ingester), `max_global_traces_per_user` (across the cluster: each ingester holds its
//! share) and `max_bytes_per_trace`. The traces database enforces them on append; this module
//! turns the tenant's overrides into this ingester's numbers.

use std::sync::Arc;

use sextant_kit::overrides::Overrides;
use sextant_model::limits::TenantTracesLimits;
use sextant_model::TenantId;
use sextant_traces::db::TracesAppendLimits;

use crate::metrics_ingester::RingMembership;

/// What the trace limits need: per-tenant limits, the ring's size and the RF.
pub struct TracesIngesterLimits {
    overrides: Overrides,
    ring: Option<Arc<dyn RingMembership>>,
    replication_factor: usize,
}

impl TracesIngesterLimits {
    /// Limits from `overrides`; the global live trace limit is shared among the healthy
    /// instances of `ring` (without a ring, this ingester takes all of it).
    pub fn new(
        overrides: Overrides,
        ring: Option<Arc<dyn RingMembership>>,
        replication_factor: usize,
    ) -> Self {
        TracesIngesterLimits {
            overrides,
            ring,
            replication_factor,
        }
    }

    /// The tenant's limits in this ingester (0 = none).
    pub(crate) fn local(&self, tenant: &TenantId) -> TracesAppendLimits {
        let limits = self.overrides.limits(tenant);
        let healthy = self.ring.as_ref().map_or(1, |r| r.healthy_instances());
        TracesAppendLimits {
            max_live_traces: local_trace_limit(&limits.traces, self.replication_factor, healthy),
            max_bytes_per_trace: limits.traces.max_bytes_per_trace,
        }
    }
}

/// The lower non-zero of `max_traces_per_user` and this ingester's share of
/// `max_global_traces_per_user` (the global limit times the RF over the healthy ingesters;
/// each holds everything when there are fewer than RF); 0 when both are 0.
pub(crate) fn local_trace_limit(
    limits: &TenantTracesLimits,
    replication_factor: usize,
    healthy: usize,
) -> u64 {
    let global = limits.max_global_traces_per_user;
    let share = match global {
        0 => 0,
        _ => {
            let healthy = healthy.max(1) as u64;
            let rf = replication_factor.max(1) as u64;
            global.saturating_mul(rf.min(healthy)).div_ceil(healthy)
        }
    };
    [limits.max_traces_per_user, share]
        .into_iter()
        .filter(|&n| n > 0)
        .min()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_limit_table() {
        // (global, local, rf, healthy) -> limit
        let cases = [
            ((0, 10_000, 3, 3), 10_000),
            ((0, 0, 3, 3), 0),
            ((6000, 0, 3, 3), 6000),
            ((6000, 0, 3, 9), 2000),
            ((10, 0, 3, 4), 8),
            ((100, 0, 3, 1), 100), // fewer ingesters than RF: each holds everything
            ((100, 0, 3, 0), 100),
            ((6000, 500, 3, 9), 500),
            ((600, 5000, 3, 9), 200),
        ];
        for ((global, local, rf, healthy), want) in cases {
            let limits = TenantTracesLimits {
                max_global_traces_per_user: global,
                max_traces_per_user: local,
                ..TenantTracesLimits::default()
            };
            let got = local_trace_limit(&limits, rf, healthy);
            assert_eq!(got, want, "{global} {local} {rf} {healthy}");
        }
    }
}
