//! Compiles `proto/` with protox (pure Rust, no system `protoc`) and generates prost messages
//! and tonic services.

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    let files = [
        "prometheus/types.proto",
        "prometheus/remote.proto",
        "prometheus/write_v2.proto",
        "sextant/ingester.proto",
        "loki/push.proto",
    ];
    println!("cargo:rerun-if-changed={root}");
    let descriptors = protox::compile(files, [root]).expect("compile protos");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)
        .expect("generate code from protos");
}
