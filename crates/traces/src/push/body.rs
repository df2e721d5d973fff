//! Content types, content encodings and the decompressed-size limit of OTLP/HTTP bodies.

use std::borrow::Cow;
use std::io::Read;

use super::TracesPushError;

/// How the body of a push is serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyFormat {
    Protobuf,
    Json,
}

/// The body format named by a `Content-Type` header (parameters and case ignored): OTLP's
/// `application/x-protobuf` (also `application/protobuf`) or `application/json`.
pub(super) fn body_format(content_type: Option<&str>) -> Result<BodyFormat, TracesPushError> {
    let header = content_type.unwrap_or("");
    let essence = header.split(';').next().unwrap_or("").trim();
    match essence.to_ascii_lowercase().as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(BodyFormat::Protobuf),
        "application/json" => Ok(BodyFormat::Json),
        _ => Err(TracesPushError::UnsupportedContentType(header.to_string())),
    }
}

/// Undoes the `Content-Encoding` (`gzip`, or none), refusing bodies that decompress to more
/// than `max_decompressed` bytes (0 = no limit).
pub(super) fn decode_content_encoding<'a>(
    content_encoding: Option<&str>,
    body: &'a [u8],
    max_decompressed: usize,
) -> Result<Cow<'a, [u8]>, TracesPushError> {
    let limit = if max_decompressed == 0 {
        usize::MAX
    } else {
        max_decompressed
    };
    let encoding = content_encoding.unwrap_or("").trim().to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" if body.len() > limit => Err(TracesPushError::TooLarge { limit }),
        "" | "identity" => Ok(Cow::Borrowed(body)),
        "gzip" | "x-gzip" => read_gzip(body, limit).map(Cow::Owned),
        _ => Err(TracesPushError::UnsupportedContentEncoding(
            content_encoding.unwrap_or("").to_string(),
        )),
    }
}

/// Reads at most `limit + 1` bytes so that a gzip bomb costs no more than the limit.
fn read_gzip(body: &[u8], limit: usize) -> Result<Vec<u8>, TracesPushError> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| TracesPushError::BadRequest(format!("decompressing gzip body: {e}")))?;
    if out.len() > limit {
        return Err(TracesPushError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
pub(super) mod tests {
    use std::io::Write;

    use super::*;

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn content_types() {
        let cases = [
            (Some("application/x-protobuf"), Ok(BodyFormat::Protobuf)),
            (Some("application/protobuf"), Ok(BodyFormat::Protobuf)),
            (
                Some("Application/JSON; charset=utf-8"),
                Ok(BodyFormat::Json),
            ),
            (Some(" application/json "), Ok(BodyFormat::Json)),
            (
                Some("text/plain"),
                Err(TracesPushError::UnsupportedContentType("text/plain".into())),
            ),
            (
                None,
                Err(TracesPushError::UnsupportedContentType("".into())),
            ),
        ];
        for (header, want) in cases {
            assert_eq!(body_format(header), want, "{header:?}");
        }
    }

    #[test]
    fn content_encodings_and_limits() {
        let data = vec![b'a'; 100];
        /// The decoded length, or the error.
        type Want = Result<usize, TracesPushError>;
        // (encoding, body, limit, expected)
        let cases: Vec<(Option<&str>, Vec<u8>, usize, Want)> = vec![
            (None, data.clone(), 100, Ok(100)),
            (Some("identity"), data.clone(), 0, Ok(100)),
            (Some("gzip"), gzip(&data), 100, Ok(100)),
            (Some("GZIP"), gzip(&data), 0, Ok(100)),
            (Some("x-gzip"), gzip(&data), 100, Ok(100)),
            (
                None,
                data.clone(),
                99,
                Err(TracesPushError::TooLarge { limit: 99 }),
            ),
            (
                Some("gzip"),
                gzip(&data),
                99,
                Err(TracesPushError::TooLarge { limit: 99 }),
            ),
            (
                Some("br"),
                data.clone(),
                100,
                Err(TracesPushError::UnsupportedContentEncoding("br".into())),
            ),
            (
                Some("deflate"),
                data.clone(),
                100,
                Err(TracesPushError::UnsupportedContentEncoding(
                    "deflate".into(),
                )),
            ),
        ];
        for (encoding, body, limit, want) in cases {
            let got = decode_content_encoding(encoding, &body, limit).map(|b| b.len());
            assert_eq!(got, want, "{encoding:?} limit {limit}");
        }
        let err = decode_content_encoding(Some("gzip"), b"not gzip", 100).unwrap_err();
        assert!(
            matches!(&err, TracesPushError::BadRequest(m) if m.starts_with("decompressing gzip")),
            "{err}"
        );
    }
}
