//! Snappy block decompression of arbitrary bytes under a small limit: never panics, never
//! returns more than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_metrics::remote_write::decompress;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = decompress(data, LIMIT) {
        assert!(out.len() <= LIMIT);
    }
});
