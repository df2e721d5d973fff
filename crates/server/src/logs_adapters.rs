//! Tonic clients of the logs ingesters (`LogsIngester` in proto/sextant/ingester.proto) for the
//! narrow traits the distributor and the querier declare.

use futures::future::BoxFuture;
use sextant_distributor::LogsIngesterClient as PushClient;
use sextant_proto::ingester::logs_ingester_client::LogsIngesterClient;
use sextant_proto::ingester::{
    LogsLabelsRequest, LogsLabelsResponse, LogsPushRequest, LogsPushResponse, LogsQueryRequest,
    LogsQueryResponse, LogsSeriesRequest, LogsSeriesResponse, LogsStatsRequest, LogsStatsResponse,
};
use sextant_querier::LogsIngesterQueryClients;
use sextant_ring::client_pool::ClientPool;
use tonic::transport::Channel;

use crate::adapters::{ingester_channel, with_timeout, INGESTER_MAX_MESSAGE_BYTES};

/// One lazily connected tonic client per logs ingester address.
pub(crate) struct GrpcLogsIngesterClients {
    pool: ClientPool<LogsIngesterClient<Channel>, tonic::Status>,
}

impl Default for GrpcLogsIngesterClients {
    fn default() -> Self {
        GrpcLogsIngesterClients {
            pool: ClientPool::new(connect_lazily),
        }
    }
}

fn connect_lazily(addr: &str) -> Result<LogsIngesterClient<Channel>, tonic::Status> {
    Ok(LogsIngesterClient::new(ingester_channel(addr)?)
        .max_decoding_message_size(INGESTER_MAX_MESSAGE_BYTES)
        .max_encoding_message_size(INGESTER_MAX_MESSAGE_BYTES))
}

impl PushClient for GrpcLogsIngesterClients {
    fn push(
        &self,
        addr: &str,
        request: LogsPushRequest,
    ) -> BoxFuture<'static, Result<LogsPushResponse, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move { Ok(client?.push(request).await?.into_inner()) })
    }
}

impl LogsIngesterQueryClients for GrpcLogsIngesterClients {
    fn query_stream(
        &self,
        addr: &str,
        request: LogsQueryRequest,
    ) -> BoxFuture<'static, Result<Vec<LogsQueryResponse>, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move {
            let mut stream = client?
                .query_stream(with_timeout(request))
                .await?
                .into_inner();
            let mut batches = Vec::new();
            while let Some(batch) = stream.message().await? {
                batches.push(batch);
            }
            Ok(batches)
        })
    }

    fn label_names(
        &self,
        addr: &str,
        request: LogsLabelsRequest,
    ) -> BoxFuture<'static, Result<LogsLabelsResponse, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move {
            Ok(client?
                .label_names(with_timeout(request))
                .await?
                .into_inner())
        })
    }

    fn label_values(
        &self,
        addr: &str,
        request: LogsLabelsRequest,
    ) -> BoxFuture<'static, Result<LogsLabelsResponse, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move {
            Ok(client?
                .label_values(with_timeout(request))
                .await?
                .into_inner())
        })
    }

    fn series(
        &self,
        addr: &str,
        request: LogsSeriesRequest,
    ) -> BoxFuture<'static, Result<LogsSeriesResponse, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move { Ok(client?.series(with_timeout(request)).await?.into_inner()) })
    }

    fn stats(
        &self,
        addr: &str,
        request: LogsStatsRequest,
    ) -> BoxFuture<'static, Result<LogsStatsResponse, tonic::Status>> {
        let client = self.pool.get(addr);
        Box::pin(async move { Ok(client?.stats(with_timeout(request)).await?.into_inner()) })
    }
}
