//! Prometheus remote write 1.0 and 2.0: content negotiation, snappy decompression, and
//! decoding into a [`WriteBatch`] that borrows label strings from the decompressed body.
//!
//! The decoder is hand-written over the protobuf wire format so that decoding allocates a
//! handful of vectors per request and nothing per label. It follows protobuf's rules: unknown
//! fields are skipped, repeated scalars are accepted packed and unpacked, the last value of a
//! scalar field wins, and every length and varint is bounds-checked. Errors name the field
//! (`timeseries[2].labels[0].name is not valid UTF-8`).
//!
//! - `wire`: the protobuf reader and the error path.
//! - `common`: `Sample` and `Histogram`, identical in both versions.
//! - `v1`, `v2`: the two request shapes.
//! - `encode`: remote write 1.0 encoding, used to forward series to ingesters.

mod common;
mod encode;
mod v1;
mod v2;
mod wire;

#[cfg(test)]
mod tests;

use sextant_model::ErrorKind;

use crate::write::WriteBatch;
pub use encode::{encode_metadata_v1, encode_series_v1};

/// The remote write protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `prometheus.WriteRequest`.
    V1,
    /// `io.prometheus.write.v2.Request`.
    V2,
}

impl Protocol {
    fn version(self) -> &'static str {
        match self {
            Protocol::V1 => "1.0",
            Protocol::V2 => "2.0",
        }
    }
}

/// A rejected remote write request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RemoteWriteError {
    pub kind: ErrorKind,
    pub message: String,
}

impl RemoteWriteError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        RemoteWriteError {
            kind,
            message: message.into(),
        }
    }
}

const V1_PROTO: &str = "prometheus.WriteRequest";
const V2_PROTO: &str = "io.prometheus.write.v2.Request";

/// Picks the protocol from the `Content-Type` and `Content-Encoding` headers, as Prometheus'
/// receiver does: a missing content type means 1.0; only snappy (or nothing) is accepted as
/// encoding.
pub fn negotiate(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
) -> Result<Protocol, RemoteWriteError> {
    if let Some(encoding) = content_encoding {
        if !encoding.trim().eq_ignore_ascii_case("snappy") {
            return Err(RemoteWriteError::new(
                ErrorKind::UnsupportedMediaType,
                format!(
                    "unsupported Content-Encoding {encoding:?}: remote write accepts only \"snappy\""
                ),
            ));
        }
    }
    let Some(content_type) = content_type else {
        return Ok(Protocol::V1);
    };
    parse_content_type(content_type).ok_or_else(|| {
        RemoteWriteError::new(
            ErrorKind::UnsupportedMediaType,
            format!(
                "unsupported Content-Type {content_type:?}: remote write accepts \
                 \"application/x-protobuf\" (1.0), \
                 \"application/x-protobuf;proto={V1_PROTO}\" (1.0) and \
                 \"application/x-protobuf;proto={V2_PROTO}\" (2.0)"
            ),
        )
    })
}

fn parse_content_type(content_type: &str) -> Option<Protocol> {
    let mut parts = content_type.split(';').map(str::trim);
    let media_type = parts.next()?;
    if !media_type.eq_ignore_ascii_case("application/x-protobuf") {
        return None;
    }
    let mut protocol = Protocol::V1;
    for param in parts.filter(|p| !p.is_empty()) {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("proto") {
            continue;
        }
        protocol = match value.trim().trim_matches('"') {
            V1_PROTO => Protocol::V1,
            V2_PROTO => Protocol::V2,
            _ => return None,
        };
    }
    Some(protocol)
}

/// Decompresses a snappy *block* body, refusing (before allocating) one that declares more than
/// `max_decompressed` bytes.
pub fn decompress(body: &[u8], max_decompressed: usize) -> Result<Vec<u8>, RemoteWriteError> {
    let snappy_error =
        |e: snap::Error| RemoteWriteError::new(ErrorKind::BadRequest, format!("snappy: {e}"));
    let len = snap::raw::decompress_len(body).map_err(snappy_error)?;
    if len > max_decompressed {
        return Err(RemoteWriteError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "the decompressed body would be {len} bytes, more than the limit of \
                 {max_decompressed} bytes (distributor.max_decompressed_size)"
            ),
        ));
    }
    let mut out = vec![0; len];
    let written = snap::raw::Decoder::new()
        .decompress(body, &mut out)
        .map_err(snappy_error)?;
    out.truncate(written);
    Ok(out)
}

/// Decodes a remote write 1.0 `WriteRequest`, appending to `out` (call `out.clear()` between
/// requests). Each series keeps the byte range of its `TimeSeries` message in `raw`. On error
/// `out` holds part of the request and should be cleared.
pub fn decode_v1<'a>(buf: &'a [u8], out: &mut WriteBatch<'a>) -> Result<(), RemoteWriteError> {
    check_size(buf, Protocol::V1)?;
    v1::decode_request(buf, out).map_err(|e| bad_request(Protocol::V1, &e))
}

/// Decodes a remote write 2.0 `Request`, appending to `out` (call `out.clear()` between
/// requests). Label references are resolved to strings; `raw` stays empty. On error `out`
/// holds part of the request and should be cleared.
pub fn decode_v2<'a>(buf: &'a [u8], out: &mut WriteBatch<'a>) -> Result<(), RemoteWriteError> {
    check_size(buf, Protocol::V2)?;
    v2::decode_request(buf, out).map_err(|e| bad_request(Protocol::V2, &e))
}

/// Ranges in a [`WriteBatch`] are `u32`: bodies past 4 GiB cannot be represented.
fn check_size(buf: &[u8], protocol: Protocol) -> Result<(), RemoteWriteError> {
    if buf.len() > u32::MAX as usize {
        return Err(RemoteWriteError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "invalid remote write {} request: {} bytes is more than 4 GiB",
                protocol.version(),
                buf.len()
            ),
        ));
    }
    Ok(())
}

fn bad_request(protocol: Protocol, error: &wire::DecodeError) -> RemoteWriteError {
    RemoteWriteError::new(
        ErrorKind::BadRequest,
        format!(
            "invalid remote write {} request: cannot decode the protobuf body: {error}",
            protocol.version()
        ),
    )
}
