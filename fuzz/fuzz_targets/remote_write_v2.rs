//! Remote write 2.0 decoding and validation of arbitrary bytes: never panics, and a decoded
//! request re-encoded as 1.0 decodes to the same labels and samples.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_metrics::remote_write::{decode_v1, decode_v2, encode_series_v1};
use sextant_metrics::validation::validate_batch;
use sextant_metrics::write::WriteBatch;
use sextant_model::TenantLimits;

fuzz_target!(|data: &[u8]| {
    let mut batch = WriteBatch::default();
    if decode_v2(data, &mut batch).is_err() {
        return;
    }
    let mut out = Vec::new();
    for series in &batch.series {
        encode_series_v1(&batch, series, None, &mut out);
    }
    let mut again = WriteBatch::default();
    decode_v1(&out, &mut again).expect("re-encoded request must decode");
    assert_eq!(again.labels, batch.labels);
    assert_eq!(again.samples.len(), batch.samples.len());
    validate_batch(&mut batch, &TenantLimits::default(), 1_700_000_000_000);
});
