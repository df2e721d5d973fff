//! Compiles `proto/` with protox (pure Rust, no system `protoc`) and generates prost messages
//! and tonic services.

const OTLP_ANY_VALUE: &str = "::opentelemetry_proto::tonic::common::v1::AnyValue";
const OTLP_ARRAY_VALUE: &str = "::opentelemetry_proto::tonic::common::v1::ArrayValue";
const OTLP_KEY_VALUE_LIST: &str = "::opentelemetry_proto::tonic::common::v1::KeyValueList";
const OTLP_KEY_VALUE: &str = "::opentelemetry_proto::tonic::common::v1::KeyValue";

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    let files = [
        "prometheus/types.proto",
        "prometheus/remote.proto",
        "prometheus/write_v2.proto",
        "sextant/ingester.proto",
        "loki/push.proto",
        "tempo/tempopb.proto",
    ];
    println!("cargo:rerun-if-changed={root}");
    let descriptors = protox::compile(files, [root]).expect("compile protos");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Tempo's span attributes are OTLP's messages: use `opentelemetry-proto`'s types, so
        // search results need no conversion.
        .extern_path(".tempopb.AnyValue", OTLP_ANY_VALUE)
        .extern_path(".tempopb.ArrayValue", OTLP_ARRAY_VALUE)
        .extern_path(".tempopb.KeyValueList", OTLP_KEY_VALUE_LIST)
        .extern_path(".tempopb.KeyValue", OTLP_KEY_VALUE)
        .compile_fds(descriptors)
        .expect("generate code from protos");
}
