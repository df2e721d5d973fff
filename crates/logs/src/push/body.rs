//! Content types, content encodings and the decompressed-size limit of push bodies.

use std::borrow::Cow;
use std::io::Read;

use super::PushError;

/// How the body of a push is serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyFormat {
    Protobuf,
    Json,
}

/// The media type of a `Content-Type` header without its parameters, lowercased; `None` when
/// the header is absent or blank.
pub(super) fn media_type(content_type: Option<&str>) -> Option<String> {
    let essence = content_type?.split(';').next().unwrap_or("").trim();
    (!essence.is_empty()).then(|| essence.to_ascii_lowercase())
}

/// Whether a `Content-Encoding` of `snappy` is accepted (and left for the protobuf decoder, as
/// Loki does: Promtail's bodies are snappy whatever the header says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SnappyHeader {
    Accepted,
    Rejected,
}

/// Undoes the `Content-Encoding` (`gzip`, `deflate`, or none), refusing bodies that decompress
/// to more than `max_decompressed` bytes (0 = no limit).
pub(super) fn decode_content_encoding<'a>(
    content_encoding: Option<&str>,
    body: &'a [u8],
    max_decompressed: usize,
    snappy: SnappyHeader,
) -> Result<Cow<'a, [u8]>, PushError> {
    let limit = effective_limit(max_decompressed);
    let encoding = content_encoding.unwrap_or("").trim().to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => within_limit(Cow::Borrowed(body), limit),
        "snappy" if snappy == SnappyHeader::Accepted => within_limit(Cow::Borrowed(body), limit),
        "gzip" | "x-gzip" => {
            read_limited(flate2::read::MultiGzDecoder::new(body), limit, "gzip").map(Cow::Owned)
        }
        // Loki reads `deflate` as a raw DEFLATE stream (Go's compress/flate).
        "deflate" => {
            read_limited(flate2::read::DeflateDecoder::new(body), limit, "deflate").map(Cow::Owned)
        }
        _ => Err(PushError::UnsupportedContentEncoding(
            content_encoding.unwrap_or("").to_string(),
        )),
    }
}

/// Decompresses a snappy *block* (not framed) body, as Promtail and Prometheus send them,
/// checking the length in its header against the limit before allocating.
pub(super) fn decode_snappy_block(
    body: &[u8],
    max_decompressed: usize,
) -> Result<Vec<u8>, PushError> {
    let limit = effective_limit(max_decompressed);
    let bad = |e: snap::Error| PushError::BadRequest(format!("decompressing snappy body: {e}"));
    let len = snap::raw::decompress_len(body).map_err(bad)?;
    if len > limit {
        return Err(PushError::TooLarge { limit });
    }
    snap::raw::Decoder::new().decompress_vec(body).map_err(bad)
}

fn effective_limit(max_decompressed: usize) -> usize {
    if max_decompressed == 0 {
        usize::MAX
    } else {
        max_decompressed
    }
}

fn within_limit(body: Cow<'_, [u8]>, limit: usize) -> Result<Cow<'_, [u8]>, PushError> {
    if body.len() > limit {
        return Err(PushError::TooLarge { limit });
    }
    Ok(body)
}

fn read_limited(reader: impl Read, limit: usize, what: &str) -> Result<Vec<u8>, PushError> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| PushError::BadRequest(format!("decompressing {what} body: {e}")))?;
    if out.len() > limit {
        return Err(PushError::TooLarge { limit });
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

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn media_types() {
        let cases = [
            (None, None),
            (Some(""), None),
            (Some("application/json"), Some("application/json")),
            (
                Some("Application/JSON; charset=utf-8"),
                Some("application/json"),
            ),
            (
                Some(" application/x-protobuf "),
                Some("application/x-protobuf"),
            ),
        ];
        for (header, want) in cases {
            assert_eq!(media_type(header).as_deref(), want, "{header:?}");
        }
    }

    #[test]
    fn content_encodings() {
        let data = b"hello hello hello hello".to_vec();
        let ok = [
            (None, data.clone()),
            (Some(""), data.clone()),
            (Some("identity"), data.clone()),
            (Some("snappy"), data.clone()),
            (Some("gzip"), gzip(&data)),
            (Some("GZIP"), gzip(&data)),
            (Some("deflate"), deflate(&data)),
        ];
        for (encoding, body) in ok {
            let got = decode_content_encoding(encoding, &body, 100, SnappyHeader::Accepted);
            assert_eq!(got.unwrap().as_ref(), &data[..], "{encoding:?}");
        }
        let err = decode_content_encoding(Some("snappy"), &data, 100, SnappyHeader::Rejected);
        assert_eq!(
            err.unwrap_err(),
            PushError::UnsupportedContentEncoding("snappy".into())
        );
        let err = decode_content_encoding(Some("br"), &data, 100, SnappyHeader::Accepted);
        assert_eq!(
            err.unwrap_err(),
            PushError::UnsupportedContentEncoding("br".into())
        );
        let err = decode_content_encoding(Some("gzip"), b"not gzip", 100, SnappyHeader::Accepted);
        assert!(
            matches!(err, Err(PushError::BadRequest(m)) if m.starts_with("decompressing gzip"))
        );
    }

    #[test]
    fn limits_apply_after_decompression() {
        let data = vec![b'a'; 1000];
        let cases: [(Option<&str>, Vec<u8>); 3] = [
            (None, data.clone()),
            (Some("gzip"), gzip(&data)),
            (Some("deflate"), deflate(&data)),
        ];
        for (encoding, body) in cases {
            let err = decode_content_encoding(encoding, &body, 999, SnappyHeader::Accepted);
            assert_eq!(err.unwrap_err(), PushError::TooLarge { limit: 999 });
            let ok = decode_content_encoding(encoding, &body, 1000, SnappyHeader::Accepted);
            assert_eq!(ok.unwrap().len(), 1000);
            let unlimited = decode_content_encoding(encoding, &body, 0, SnappyHeader::Accepted);
            assert_eq!(unlimited.unwrap().len(), 1000);
        }
        let snappy = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decode_snappy_block(&snappy, 999).unwrap_err(),
            PushError::TooLarge { limit: 999 }
        );
        assert_eq!(decode_snappy_block(&snappy, 1000).unwrap(), data);
        assert!(matches!(
            decode_snappy_block(b"\xff\xff\xff\xff\xff", 1000),
            Err(PushError::BadRequest(_))
        ));
    }
}
