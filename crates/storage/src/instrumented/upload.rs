//! A multipart upload that counts the bytes of each part.

use async_trait::async_trait;
use object_store::{MultipartUpload, PutPayload, PutResult, Result, UploadPart};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::Labels;

#[derive(Debug)]
pub(super) struct InstrumentedUpload {
    inner: Box<dyn MultipartUpload>,
    bytes: Family<Labels, Counter>,
}

impl InstrumentedUpload {
    pub(super) fn new(inner: Box<dyn MultipartUpload>, bytes: Family<Labels, Counter>) -> Self {
        InstrumentedUpload { inner, bytes }
    }
}

#[async_trait]
impl MultipartUpload for InstrumentedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.bytes
            .get_or_create(&[("operation", "put_multipart")])
            .inc_by(data.content_length() as u64);
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        self.inner.complete().await
    }

    async fn abort(&mut self) -> Result<()> {
        self.inner.abort().await
    }
}
