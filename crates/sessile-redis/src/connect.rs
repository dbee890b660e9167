//! Connection setup, shared by every layout: the timeouts and the TLS CA of [`SharedOptions`]
//! applied to redis-rs's reconnecting connections.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;

use crate::error::{bounded, Error};
use crate::options::SharedOptions;
use crate::tls;

/// A multiplexed connection to one server that reconnects on its own, such as
/// `redis://127.0.0.1:6379`, `redis://:password@host:6379/2` or `rediss://host:6380`.
pub(crate) async fn standalone(
    url: &str,
    options: &SharedOptions,
) -> Result<ConnectionManager, Error> {
    let client = tls::standalone_client(url, options.tls_ca_certificates.as_deref())?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(options.acquire_timeout)
        .set_response_timeout(options.statement_timeout)
        // Reconnection is retried in the background on the next command; a short retry
        // budget keeps each command's wait within the timeout.
        .set_number_of_retries(2)
        .set_max_delay(200);
    bounded(
        options.acquire_timeout,
        "connecting",
        ConnectionManager::new_with_config(client, config),
    )
    .await
    .map_err(|error| Error::Connect(tls::explain_plain_failure(&[url], error)))
}

/// A connection to a Redis Cluster through any of its nodes, following redirections and
/// reconnecting on its own.
pub(crate) async fn cluster(
    urls: Vec<String>,
    options: &SharedOptions,
) -> Result<ClusterConnection, Error> {
    let builder = tls::cluster_builder(&urls, options.tls_ca_certificates.as_deref())?;
    let client = builder
        .connection_timeout(options.acquire_timeout)
        .response_timeout(options.statement_timeout)
        // During a failover, MOVED/TRYAGAIN/CLUSTERDOWN answers are retried with backoff
        // (and the slot map refreshed) until the store's own timeout gives up.
        .retries(6)
        .min_retry_wait(50)
        .max_retry_wait(500)
        .build()
        .map_err(Error::InvalidUrl)?;
    bounded(
        options.acquire_timeout,
        "connecting to the cluster",
        client.get_async_connection(),
    )
    .await
    .map_err(|error| Error::Connect(tls::explain_plain_failure(&urls, error)))
}
