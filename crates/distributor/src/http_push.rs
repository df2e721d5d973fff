//! What the HTTP push handlers of every signal share: reading the body under
//! `distributor.max_recv_msg_size`, the tenant and content headers of a push, and the 200 of
//! an OTLP/HTTP export in the request's encoding (protobuf or OTLP/JSON).

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message;
use sextant_kit::error::ApiError;
use sextant_kit::tenant::TenantResolver;
use sextant_model::{ErrorKind, TenantId};

/// How much of an oversized body is drained before giving up on the connection.
const DRAIN_LIMIT_FACTOR: usize = 16;

/// Reads the body up to `limit` bytes; a longer one is a 413 naming the limit, any other read
/// failure a 400. A longer body is read to its end (up to [`DRAIN_LIMIT_FACTOR`] × `limit`,
/// then the connection is dropped) before the 413 is sent: answering while the client is
/// still sending makes many clients see a reset connection instead of the 413 and its message.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::new(
                ErrorKind::BadRequest,
                format!("cannot read the request body: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            buf.extend_from_slice(&data);
        } else if seen > limit.saturating_mul(DRAIN_LIMIT_FACTOR) {
            break;
        }
    }
    if seen > limit {
        return Err(ApiError {
            kind: ErrorKind::PayloadTooLarge,
            id: Some("err-sextant-request-too-large"),
            message: format!(
                "request body too large: the limit is {limit} bytes (distributor.max_recv_msg_size)"
            ),
        });
    }
    Ok(buf.freeze())
}

/// Whether a `Content-Type` is JSON (OTLP/JSON rather than protobuf).
pub(crate) fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// One HTTP push as received: its tenant, content headers and body.
pub(crate) struct HttpPush {
    pub tenant: TenantId,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub body: Bytes,
}

impl HttpPush {
    /// Resolves the tenant (first, so that an unknown tenant costs no body read), then reads
    /// the body up to `limit` bytes.
    pub(crate) async fn read(
        tenants: &TenantResolver,
        headers: &HeaderMap,
        body: Body,
        limit: usize,
    ) -> Result<Self, ApiError> {
        let tenant = tenants.resolve(headers)?;
        let header = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(header::CONTENT_TYPE);
        let content_encoding = header(header::CONTENT_ENCODING);
        let body = read_body(body, limit).await?;
        Ok(HttpPush {
            tenant,
            content_type,
            content_encoding,
            body,
        })
    }

    /// Whether the push is OTLP/JSON, and so is its answer.
    pub(crate) fn is_json(&self) -> bool {
        is_json(self.content_type.as_deref())
    }
}

/// The 200 of an OTLP/HTTP export: `response` as protobuf, or as the OTLP/JSON `to_json`
/// encodes when `json`.
pub(crate) fn otlp_response(
    json: bool,
    response: &impl Message,
    to_json: impl FnOnce() -> serde_json::Result<Vec<u8>>,
) -> Response {
    if !json {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            response.encode_to_vec(),
        )
            .into_response();
    }
    match to_json() {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => ApiError::new(
            ErrorKind::Internal,
            format!("cannot encode the OTLP response: {e}"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        let cases = [
            (None, false),
            (Some("application/json"), true),
            (Some("Application/JSON; charset=utf-8"), true),
            (Some("application/x-protobuf"), false),
            (Some("text/plain"), false),
        ];
        for (content_type, want) in cases {
            assert_eq!(is_json(content_type), want, "{content_type:?}");
        }
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_413_naming_it() {
        let cases = [(4usize, "abcd", None), (3, "abcd", Some(413u16))];
        for (limit, text, want) in cases {
            let got = read_body(Body::from(text), limit).await;
            match want {
                None => assert_eq!(got.unwrap(), text.as_bytes(), "{limit}"),
                Some(status) => {
                    let e = got.unwrap_err();
                    assert_eq!(e.kind.http_status(), status);
                    assert!(e.message.contains("distributor.max_recv_msg_size"));
                }
            }
        }
    }
}
