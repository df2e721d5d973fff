//! Remote write 1.0 decoding, validation and re-encoding of arbitrary bytes: never panics, and
//! what the encoder writes decodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_metrics::remote_write::{decode_v1, encode_metadata_v1, encode_series_v1};
use sextant_metrics::validation::validate_batch;
use sextant_metrics::write::WriteBatch;
use sextant_model::TenantLimits;

fuzz_target!(|data: &[u8]| {
    let mut batch = WriteBatch::default();
    if decode_v1(data, &mut batch).is_err() {
        return;
    }
    let mut out = Vec::new();
    for (i, series) in batch.series.iter().enumerate() {
        // alternate forwarding the original bytes and re-encoding
        encode_series_v1(&batch, series, (i % 2 == 0).then_some(data), &mut out);
    }
    for md in &batch.metadata {
        encode_metadata_v1(md, &mut out);
    }
    let mut again = WriteBatch::default();
    decode_v1(&out, &mut again).expect("re-encoded request must decode");
    assert_eq!(again.series.len(), batch.series.len());
    let bits = |b: &WriteBatch<'_>| -> Vec<(i64, u64)> {
        b.samples
            .iter()
            .map(|s| (s.timestamp_ms, s.value.to_bits()))
            .collect()
    };
    assert_eq!(bits(&again), bits(&batch));
    assert_eq!(again.labels, batch.labels);
    validate_batch(&mut batch, &TenantLimits::default(), 1_700_000_000_000);
});
