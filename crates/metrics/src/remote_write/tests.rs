//! Tests of the remote write codec against prost's encoding of the same messages.

use proptest::prelude::*;
use prost::Message;
use sextant_model::ErrorKind;
use sextant_proto::{prometheus as pb1, write_v2 as pb2};

use super::*;
use crate::write::{HistogramCount, MetricMetadata};

mod model;
use model::*;

proptest! {
    #[test]
    fn v1_decodes_like_prost(l in logical()) {
        let buf = to_v1(&l).encode_to_vec();
        let reference = from_v1(&pb1::WriteRequest::decode(buf.as_slice()).unwrap());
        prop_assert_eq!(decoded(Protocol::V1, &buf).unwrap(), reference);
    }

    #[test]
    fn v2_decodes_like_prost(l in logical()) {
        let buf = to_v2(&l).encode_to_vec();
        let reference = from_v2(&pb2::Request::decode(buf.as_slice()).unwrap());
        prop_assert_eq!(decoded(Protocol::V2, &buf).unwrap(), reference);
    }

    #[test]
    fn encode_series_v1_round_trips_through_prost(l in logical(), keep_raw in any::<bool>()) {
        let buf = to_v1(&l).encode_to_vec();
        let original = pb1::WriteRequest::decode(buf.as_slice()).unwrap();
        let mut batch = WriteBatch::default();
        decode_v1(&buf, &mut batch).unwrap();
        let out = reencode(&buf, &batch, keep_raw);
        let again = pb1::WriteRequest::decode(out.as_slice()).unwrap();
        prop_assert_eq!(from_v1(&again), from_v1(&original));
        if keep_raw && l.metadata.is_empty() {
            prop_assert_eq!(out, buf, "forwarded series must be byte-identical");
        }
    }

    #[test]
    fn v2_reencoded_as_v1_keeps_the_content(l in logical()) {
        let buf = to_v2(&l).encode_to_vec();
        let mut batch = WriteBatch::default();
        decode_v2(&buf, &mut batch).unwrap();
        let out = reencode(&buf, &batch, true);
        let again = pb1::WriteRequest::decode(out.as_slice()).unwrap();
        prop_assert_eq!(from_v1(&again), from_v2(&pb2::Request::decode(buf.as_slice()).unwrap()));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut batch = WriteBatch::default();
        let _ = decode_v1(&bytes, &mut batch);
        batch.clear();
        let _ = decode_v2(&bytes, &mut batch);
        let _ = decompress(&bytes, 1 << 16);
    }

    #[test]
    fn mutated_requests_never_panic(l in logical(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        for mut buf in [to_v1(&l).encode_to_vec(), to_v2(&l).encode_to_vec()] {
            if !buf.is_empty() {
                let i = at.index(buf.len());
                buf[i] = byte;
            }
            let mut batch = WriteBatch::default();
            let _ = decode_v1(&buf, &mut batch);
            batch.clear();
            let _ = decode_v2(&buf, &mut batch);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-made wire bytes.

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_varint(field: u64, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(field << 3, &mut out);
    varint(v, &mut out);
    out
}

fn field_len(field: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(field << 3 | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

fn label(name: &[u8], value: &[u8]) -> Vec<u8> {
    field_len(1, &[field_len(1, name), field_len(2, value)].concat())
}

fn v2_request(symbols: &[&str], series: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = symbols
        .iter()
        .flat_map(|s| field_len(4, s.as_bytes()))
        .collect();
    for s in series {
        out.extend(field_len(5, s));
    }
    out
}

#[test]
fn malformed_requests_are_rejected_with_the_field_named() {
    let good_series = [
        label(b"__name__", b"up"),
        field_len(2, &[9, 0, 0, 0, 0, 0, 0, 240, 63]),
    ]
    .concat();
    let cases: Vec<(&str, Protocol, Vec<u8>, &str)> = vec![
        (
            "truncated varint",
            Protocol::V1,
            vec![0x0a, 0x80],
            "timeseries[0] is truncated (a varint runs past the end)",
        ),
        (
            "truncated key",
            Protocol::V1,
            vec![0x8a],
            "the message is truncated",
        ),
        (
            "length past end",
            Protocol::V1,
            vec![0x0a, 0x05, 0x00],
            "timeseries[0] has a length of 5 bytes past the end",
        ),
        (
            "nested length past end",
            Protocol::V1,
            field_len(1, &[0x0a, 0x09, 0x0a]),
            "timeseries[0].labels[0] has a length of 9",
        ),
        (
            "wrong wire type",
            Protocol::V1,
            field_varint(1, 3),
            "timeseries has wire type varint, expected length-delimited",
        ),
        (
            "wrong wire type in a sample",
            Protocol::V1,
            field_len(1, &field_len(2, &field_varint(1, 1))),
            "timeseries[0].samples[0].value has wire type varint, expected 64-bit",
        ),
        (
            "invalid wire type",
            Protocol::V1,
            vec![0x0f],
            "invalid wire type 7",
        ),
        (
            "field number zero",
            Protocol::V1,
            vec![0x00, 0x00],
            "field number of 0",
        ),
        (
            "end group without start",
            Protocol::V1,
            vec![0x4c],
            "unbalanced group",
        ),
        (
            "bad UTF-8 label name",
            Protocol::V1,
            [
                field_len(1, &good_series),
                field_len(1, &label(b"a\xff", b"b")),
            ]
            .concat(),
            "invalid remote write 1.0 request: cannot decode the protobuf body: timeseries[1].labels[0].name is not valid UTF-8",
        ),
        (
            "bad UTF-8 metadata help",
            Protocol::V1,
            field_len(3, &field_len(4, b"\xc3")),
            "metadata[0].help is not valid UTF-8",
        ),
        (
            "truncated double",
            Protocol::V1,
            field_len(1, &field_len(2, &[9, 0, 0])),
            "timeseries[0].samples[0] is truncated (needs 8 bytes, 2 left)",
        ),
        (
            "v2 symbols[0] not empty",
            Protocol::V2,
            v2_request(&["x"], &[]),
            "invalid remote write 2.0 request: cannot decode the protobuf body: symbols[0] must be the empty string",
        ),
        (
            "v2 bad UTF-8 symbol",
            Protocol::V2,
            field_len(4, b"\xff"),
            "symbols[0] is not valid UTF-8",
        ),
        (
            "v2 odd labels_refs",
            Protocol::V2,
            v2_request(&["", "a"], &[field_len(1, &[1, 1, 1])]),
            "timeseries[0].labels_refs has an odd number of references (3)",
        ),
        (
            "v2 ref out of range",
            Protocol::V2,
            v2_request(&["", "a"], &[field_len(1, &[1, 1, 1, 7])]),
            "timeseries[0].labels_refs[3] = 7 is out of range (the symbols table has 2 entries)",
        ),
        (
            "v2 unpacked ref out of range",
            Protocol::V2,
            v2_request(&["", "a"], &[field_varint(1, 2)]),
            "timeseries[0].labels_refs[0] = 2 is out of range",
        ),
        (
            "v2 refs without symbols",
            Protocol::V2,
            v2_request(&[], &[field_len(1, &[0, 0])]),
            "labels_refs[0] = 0 is out of range (the symbols table has 0 entries)",
        ),
        (
            "v2 exemplar odd refs",
            Protocol::V2,
            v2_request(&["", "a"], &[field_len(4, &field_len(1, &[1]))]),
            "timeseries[0].exemplars[0].labels_refs has an odd number",
        ),
        (
            "v2 metadata help out of range",
            Protocol::V2,
            v2_request(&[""], &[field_len(5, &field_varint(3, 4))]),
            "timeseries[0].metadata.help_ref = 4 is out of range",
        ),
        (
            "v2 truncated histogram",
            Protocol::V2,
            v2_request(&[""], &[field_len(3, &[0x19, 1, 2])]),
            "timeseries[0].histograms[0].sum is truncated",
        ),
    ];
    for (name, protocol, buf, want) in cases {
        let err = decoded(protocol, &buf).expect_err(name);
        assert_eq!(err.kind, ErrorKind::BadRequest, "{name}");
        assert!(
            err.message.contains(want),
            "{name}: {:?} does not contain {want:?}",
            err.message
        );
    }
}

#[test]
fn unknown_fields_groups_and_unpacked_repeats_are_accepted() {
    let unknown = [
        field_varint(99, 5),
        field_len(100, b"junk"),
        vec![0x9b, 0x06, 0x08, 0x01, 0x9c, 0x06],
        vec![0x9d, 0x06, 1, 2, 3, 4],
    ]
    .concat();
    let histogram = [
        field_varint(1, 3),
        field_varint(9, 3), // unpacked sint64 -2
        field_varint(9, 4), // then 2
        field_len(9, &[1]), // and a packed chunk: -1
        vec![0x51],
        1.5f64.to_le_bytes().to_vec(), // unpacked double, field 10
        unknown.clone(),
    ]
    .concat();
    let series = [
        unknown.clone(),
        field_len(1, &[0x01, 0x02]),
        field_varint(1, 3),
        field_len(3, &histogram),
        field_varint(1, 0),
        unknown.clone(),
    ]
    .concat();
    let buf = [
        unknown.clone(),
        v2_request(&["", "__name__", "up", "job"], &[series]),
    ]
    .concat();
    let mut batch = WriteBatch::default();
    decode_v2(&buf, &mut batch).unwrap();
    assert_eq!(batch.series.len(), 1);
    let labels: Vec<_> = batch.labels.iter().map(|l| (l.name, l.value)).collect();
    assert_eq!(labels, [("__name__", "up"), ("job", "")]);
    let h = &batch.histograms[0];
    assert_eq!(h.count, HistogramCount::Int(3));
    assert_eq!(h.negative_deltas, [-2, 2, -1]);
    assert_eq!(h.negative_counts, [1.5]);
}

#[test]
fn v1_records_raw_ranges_and_metadata() {
    let s1 = label(b"__name__", b"a");
    let s2 = [label(b"__name__", b"b"), label(b"x", b"y")].concat();
    let md = [
        field_varint(1, 1),
        field_len(2, b"a"),
        field_len(4, b"help"),
        field_len(5, b"s"),
    ]
    .concat();
    let buf = [field_len(1, &s1), field_len(3, &md), field_len(1, &s2)].concat();
    let mut batch = WriteBatch::default();
    decode_v1(&buf, &mut batch).unwrap();
    let raws: Vec<&[u8]> = batch
        .series
        .iter()
        .map(|s| &buf[s.raw.start as usize..s.raw.end as usize])
        .collect();
    assert_eq!(raws, [s1.as_slice(), s2.as_slice()]);
    assert_eq!(
        batch.metadata,
        [MetricMetadata {
            metric_family_name: "a",
            metric_type: 1,
            help: "help",
            unit: "s"
        }]
    );
}

#[test]
fn v2_metadata_is_named_after_the_series() {
    let md = [field_varint(1, 2), field_varint(3, 3), field_varint(4, 0)].concat();
    let series = [field_len(1, &[1, 2]), field_len(5, &md)].concat();
    let unnamed = [field_len(1, &[3, 2]), field_len(5, &md)].concat();
    let buf = v2_request(&["", "__name__", "temp", "help text"], &[series, unnamed]);
    let mut batch = WriteBatch::default();
    decode_v2(&buf, &mut batch).unwrap();
    assert_eq!(
        batch.metadata,
        [MetricMetadata {
            metric_family_name: "temp",
            metric_type: 2,
            help: "help text",
            unit: ""
        }]
    );
    assert!(batch.series.iter().all(|s| s.raw.is_empty()));
}

#[test]
fn negotiates_the_protocol_from_headers() {
    use Protocol::{V1, V2};
    type Case = (
        Option<&'static str>,
        Option<&'static str>,
        Result<Protocol, ErrorKind>,
    );
    let cases: &[Case] = &[
        (None, None, Ok(V1)),
        (None, Some("snappy"), Ok(V1)),
        (Some("application/x-protobuf"), Some("snappy"), Ok(V1)),
        (
            Some("application/x-protobuf;proto=prometheus.WriteRequest"),
            None,
            Ok(V1),
        ),
        (
            Some("application/x-protobuf; proto=io.prometheus.write.v2.Request"),
            Some("snappy"),
            Ok(V2),
        ),
        (
            Some("application/x-protobuf;proto=\"io.prometheus.write.v2.Request\""),
            None,
            Ok(V2),
        ),
        (Some("Application/X-Protobuf; charset=utf-8"), None, Ok(V1)),
        (
            Some("application/json"),
            None,
            Err(ErrorKind::UnsupportedMediaType),
        ),
        (
            Some("application/x-protobuf;proto=io.prometheus.write.v3.Request"),
            None,
            Err(ErrorKind::UnsupportedMediaType),
        ),
        (
            Some("application/x-protobuf;garbage"),
            None,
            Err(ErrorKind::UnsupportedMediaType),
        ),
        (
            Some("application/x-protobuf"),
            Some("gzip"),
            Err(ErrorKind::UnsupportedMediaType),
        ),
        (None, Some("zstd"), Err(ErrorKind::UnsupportedMediaType)),
    ];
    for (ct, ce, want) in cases {
        assert_eq!(
            &negotiate(*ct, *ce).map_err(|e| e.kind),
            want,
            "{ct:?} {ce:?}"
        );
    }
    let err = negotiate(Some("text/plain"), None).unwrap_err();
    assert!(
        err.message.contains("Content-Type")
            && err.message.contains("io.prometheus.write.v2.Request"),
        "{}",
        err.message
    );
    let err = negotiate(None, Some("gzip")).unwrap_err();
    assert!(
        err.message.contains("Content-Encoding") && err.message.contains("snappy"),
        "{}",
        err.message
    );
}

#[test]
fn decompresses_snappy_blocks_within_the_limit() {
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let compressed = snap::raw::Encoder::new().compress_vec(&data).unwrap();
    assert_eq!(decompress(&compressed, data.len()).unwrap(), data);
    let too_large = decompress(&compressed, data.len() - 1).unwrap_err();
    assert_eq!(too_large.kind, ErrorKind::PayloadTooLarge);
    assert!(too_large.message.contains("10000"), "{}", too_large.message);
    let truncated = &compressed[..compressed.len() / 2];
    let bad_cases: &[&[u8]] = &[b"", b"\xff\xff\xff\xff\xff\xff", truncated, b"\x05\xff\x01"];
    for bad in bad_cases {
        let e = decompress(bad, 1 << 20).expect_err("corrupt snappy must fail");
        assert_eq!(e.kind, ErrorKind::BadRequest, "{bad:?}");
        assert!(e.message.starts_with("snappy: "), "{}", e.message);
    }
}

/// A realistic request: 2000 series with 9 labels and one sample each.
fn realistic(protocol: Protocol) -> Vec<u8> {
    let series: Vec<LogicalSeries> = (0..2000)
        .map(|i| {
            let mut labels = pairs([("__name__", "http_requests_total")]);
            for (name, value) in [
                ("cluster", "eu-west-1".to_string()),
                ("code", format!("{}", 200 + i % 5)),
                ("handler", format!("/api/v1/endpoint/{}", i % 40)),
                ("instance", format!("10.0.{}.{}:9090", i / 250, i % 250)),
                ("job", "api-server".to_string()),
                ("method", "GET".to_string()),
                ("namespace", "production".to_string()),
                ("pod", format!("api-server-7f9c8d-{i:05}")),
            ] {
                labels.push((name.to_string(), value));
            }
            (
                labels,
                vec![(1_700_000_000_000 + i, i as f64)],
                vec![],
                vec![],
                None,
            )
        })
        .collect();
    let l = Logical {
        series,
        metadata: vec![],
    };
    let raw = match protocol {
        Protocol::V1 => to_v1(&l).encode_to_vec(),
        Protocol::V2 => to_v2(&l).encode_to_vec(),
    };
    snap::raw::Encoder::new().compress_vec(&raw).unwrap()
}

#[test]
#[ignore = "timing; run with --release -- --ignored --nocapture"]
fn decode_and_validate_timing() {
    use crate::validation::validate_batch;
    use std::time::Instant;
    let limits = sextant_model::TenantLimits::default();
    let rounds = 300;
    for protocol in [Protocol::V1, Protocol::V2] {
        let body = realistic(protocol);
        let t0 = Instant::now();
        let bufs: Vec<Vec<u8>> = (0..rounds)
            .map(|_| decompress(&body, 32 << 20).unwrap())
            .collect();
        let decompress_ns = t0.elapsed().as_nanos();
        // one batch reused across requests, as a server pooling batches would
        let mut batch = WriteBatch::default();
        let (mut decode_ns, mut validate_ns, mut samples) = (0u128, 0u128, 0u128);
        for buf in &bufs {
            batch.clear();
            let t1 = Instant::now();
            match protocol {
                Protocol::V1 => decode_v1(buf, &mut batch).unwrap(),
                Protocol::V2 => decode_v2(buf, &mut batch).unwrap(),
            }
            let t2 = Instant::now();
            let report = validate_batch(&mut batch, &limits, 1_700_000_000_000);
            validate_ns += t2.elapsed().as_nanos();
            decode_ns += (t2 - t1).as_nanos();
            assert!(!report.has_errors(), "{:?}", report.first_errors);
            samples += batch.samples.len() as u128;
        }
        let per = |ns: u128| ns as f64 / samples as f64;
        eprintln!(
            "{protocol:?}: {} bytes compressed, {} samples/request; per sample: decompress {:.0} ns, \
             decode {:.0} ns, validate {:.0} ns, total {:.0} ns",
            body.len(),
            samples / rounds as u128,
            per(decompress_ns),
            per(decode_ns),
            per(validate_ns),
            per(decompress_ns + decode_ns + validate_ns),
        );
    }
}
