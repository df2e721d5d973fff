//! Tonic clients of the traces ingesters (`TracesIngester` in proto/sextant/ingester.proto) for
//! the narrow traits the distributor and the querier declare.

use futures::future::BoxFuture;
use sextant_distributor::TracesIngesterClient as PushClient;
use sextant_proto::ingester::traces_ingester_client::TracesIngesterClient;
use sextant_proto::ingester::{
    TraceByIdRequest, TraceByIdResponse, TracesPushRequest, TracesPushResponse,
    TracesSearchRequest, TracesSearchResponse, TracesSearchTagValuesRequest,
    TracesSearchTagValuesResponse, TracesSearchTagsRequest, TracesSearchTagsResponse,
};
use sextant_querier::TracesIngesterQueryClients;
use sextant_ring::client_pool::ClientPool;
use tonic::transport::Channel;

use crate::adapters::{ingester_channel, with_timeout, INGESTER_MAX_MESSAGE_BYTES};

/// One lazily connected tonic client per traces ingester address.
pub(crate) struct GrpcTracesIngesterClients {
    pool: ClientPool<TracesIngesterClient<Channel>, tonic::Status>,
}

impl Default for GrpcTracesIngesterClients {
    fn default() -> Self {
        GrpcTracesIngesterClients {
            pool: ClientPool::new(connect_lazily),
        }
    }
}

fn connect_lazily(addr: &str) -> Result<TracesIngesterClient<Channel>, tonic::Status> {
    Ok(TracesIngesterClient::new(ingester_channel(addr)?)
        .max_decoding_message_size(INGESTER_MAX_MESSAGE_BYTES)
        .max_encoding_message_size(INGESTER_MAX_MESSAGE_BYTES))
}

impl PushClient for GrpcTracesIngesterClients {
    fn push(
        &self,
        addr: &str,
        request: TracesPushRequest,
    ) -> BoxFuture<'static, Result<TracesPushResponse, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move { Ok(client?.push(request).await?.into_inner()) })
    }
}

impl TracesIngesterQueryClients for GrpcTracesIngesterClients {
    fn find_trace_by_id(
        &self,
        addr: &str,
        request: TraceByIdRequest,
    ) -> BoxFuture<'static, Result<TraceByIdResponse, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move {
            Ok(client?
                .find_trace_by_id(with_timeout(request))
                .await?
                .into_inner())
        })
    }

    fn search(
        &self,
        addr: &str,
        request: TracesSearchRequest,
    ) -> BoxFuture<'static, Result<TracesSearchResponse, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move { Ok(client?.search(with_timeout(request)).await?.into_inner()) })
    }

    fn search_tags(
        &self,
        addr: &str,
        request: TracesSearchTagsRequest,
    ) -> BoxFuture<'static, Result<TracesSearchTagsResponse, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move {
            Ok(client?
                .search_tags(with_timeout(request))
                .await?
                .into_inner())
        })
    }

    fn search_tag_values(
        &self,
        addr: &str,
        request: TracesSearchTagValuesRequest,
    ) -> BoxFuture<'static, Result<TracesSearchTagValuesResponse, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move {
            Ok(client?
                .search_tag_values(with_timeout(request))
                .await?
                .into_inner())
        })
    }
}
