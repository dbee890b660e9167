//! Setup errors, and the mapping of redis-rs errors onto the store contract's [`StoreError`],
//! shared by every layout of this crate.

use std::future::Future;
use std::time::Duration;

use redis::{ErrorKind, RedisError};
use sessile::StoreError;

/// What can go wrong configuring or connecting a Redis store.
///
/// Errors of the store operations themselves are [`StoreError`]s, as the [`sessile::Store`]
/// contract requires; a configuration mistake is reported here, when the store is built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key prefix cannot be used (a brace would break the hash tags that keep a session in
    /// one Cluster slot).
    #[error("invalid key prefix {prefix:?}: {reason}")]
    InvalidKeyPrefix {
        /// The rejected prefix.
        prefix: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The URL is not a Redis URL redis-rs understands.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(#[source] RedisError),
    /// The CA certificates of `tls_ca_certificates` cannot be used: no certificate in the PEM
    /// text, a URL without TLS, or a build without the `rustls` feature.
    #[error("cannot use the TLS CA certificates: {reason}")]
    TlsCa {
        /// Why they cannot be used.
        reason: String,
    },
    /// Connecting, or loading the scripts, failed or timed out; the [`StoreError`] says
    /// whether the server could not be reached ([`StoreError::Unavailable`]) or refused.
    #[error("cannot connect to Redis: {0}")]
    Connect(#[source] StoreError),
}

/// Runs the redis-rs `call`, failing it as unavailable after `timeout`.
pub(crate) async fn bounded<T>(
    timeout: Duration,
    what: &str,
    call: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result.map_err(store_error),
        Err(_) => Err(timed_out(timeout, what)),
    }
}

/// Runs `call`, several commands whose errors are already mapped, failing it as unavailable
/// after `timeout`.
pub(crate) async fn bounded_store<T>(
    timeout: Duration,
    what: &str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| Err(timed_out(timeout, what)))
}

/// The error of a call that took longer than `timeout`.
pub(crate) fn timed_out(timeout: Duration, what: &str) -> StoreError {
    StoreError::unavailable(format!("redis {what} timed out after {timeout:?}"))
}

/// Connection trouble and Cluster reconfiguration are `Unavailable` (503, retry later), on
/// every layout: refused, dropped or timed-out connections, and the answers of a Cluster (or a
/// replica) that is moving or down: `CLUSTERDOWN`, `MASTERDOWN`, `TRYAGAIN`, `LOADING`,
/// `READONLY`, `MOVED`, `ASK`. Anything else the server says is a `Backend` error.
pub(crate) fn store_error(error: RedisError) -> StoreError {
    let transient = error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || matches!(
            error.kind(),
            ErrorKind::ClusterDown
                | ErrorKind::MasterDown
                | ErrorKind::TryAgain
                | ErrorKind::BusyLoadingError
                | ErrorKind::ClusterConnectionNotFound
                | ErrorKind::ReadOnly
                | ErrorKind::Moved
                | ErrorKind::Ask
        );
    if transient {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Backend(Box::new(error))
    }
}
