//! Generated protobuf messages and gRPC services (`proto/` at the workspace root), and the
//! conversions between wire types and `sextant-model` types.
//!
//! - [`prometheus`]: remote write 1.0 types (`WriteRequest`, `TimeSeries`, ...).
//! - [`write_v2`]: remote write 2.0 (`io.prometheus.write.v2.Request`).
//! - [`ingester`]: the internal metrics ingester service (push and query).
//! - [`loki`]: Loki's push API (`logproto.PushRequest`), as Promtail and Alloy send it.
//! - [`tempopb`]: Tempo's streaming query API (`tempopb.StreamingQuerier`), as Grafana calls it.
//! - [`otlp`]: OpenTelemetry's OTLP messages (from `opentelemetry-proto`, with OTLP/JSON serde).

#![allow(clippy::all, missing_docs, rust_2018_idioms)]

pub mod prometheus {
    include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));
}

pub mod write_v2 {
    include!(concat!(env!("OUT_DIR"), "/io.prometheus.write.v2.rs"));
}

/// Nested as the package path so generated cross-package paths (`super::super::...`) resolve.
pub mod sextant {
    pub mod ingester {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/sextant.ingester.v1.rs"));
        }
    }
}
pub use sextant::ingester::v1 as ingester;

/// Named as its package (`logproto`) so the ingester protos' paths to it resolve.
pub mod logproto {
    include!(concat!(env!("OUT_DIR"), "/logproto.rs"));
}
pub use logproto as loki;

/// Tempo's streaming query API; span attributes are [`otlp`]'s `KeyValue`.
pub mod tempopb {
    include!(concat!(env!("OUT_DIR"), "/tempopb.rs"));
}

pub use opentelemetry_proto::tonic as otlp;

mod convert;
pub use convert::*;
