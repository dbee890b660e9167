//! The options every Redis layout shares, under the same names and types as the SQL stores'
//! (see `ARCHITECTURE.md`, "One options vocabulary"): the builder methods are written once, in
//! [`shared_options!`], and each layout's builder holds a [`SharedOptions`].

use std::time::Duration;

/// The bound on connecting and on each store call unless the builder's `acquire_timeout` and
/// `statement_timeout` say otherwise. Shorter than the engine's default store timeout, so a
/// dead server is reported by the store with a precise message.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The settings of every Redis layout's builder.
#[derive(Clone, Debug)]
pub(crate) struct SharedOptions {
    /// The text in front of every key the store writes.
    pub(crate) key_prefix: String,
    /// The bound on connecting (and reconnecting).
    pub(crate) acquire_timeout: Duration,
    /// The bound on each store call as a whole, and on each reply.
    pub(crate) statement_timeout: Duration,
    /// The CA certificates (PEM) that `rediss://` servers are verified against, instead of the
    /// Mozilla roots built in.
    pub(crate) tls_ca_certificates: Option<Vec<u8>>,
}

impl SharedOptions {
    pub(crate) fn new(key_prefix: &str) -> Self {
        Self {
            key_prefix: key_prefix.to_owned(),
            acquire_timeout: DEFAULT_TIMEOUT,
            statement_timeout: DEFAULT_TIMEOUT,
            tls_ca_certificates: None,
        }
    }
}

/// The builder methods of [`SharedOptions`], for a builder with a field `shared`. The builder's
/// own documentation says what its key prefix defaults to and which prefixes it refuses.
macro_rules! shared_options {
    () => {
        /// The text in front of every key the store writes.
        pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
            self.shared.key_prefix = prefix.into();
            self
        }

        /// How long connecting (and reconnecting after the server went away) may take before
        /// the store gives up on that attempt (default
        /// [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT)); a store call waiting on it fails with
        /// [`StoreError::Unavailable`](sessile::StoreError::Unavailable).
        pub fn acquire_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.shared.acquire_timeout = timeout;
            self
        }

        /// How long one store call may take as a whole (its commands or script, retries
        /// included) before it fails with
        /// [`StoreError::Unavailable`](sessile::StoreError::Unavailable) (default
        /// [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT)). Redis has no server-side statement
        /// timeout (a script runs to its end), so the bound is the client's.
        pub fn statement_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.shared.statement_timeout = timeout;
            self
        }

        /// The CA certificates to verify `rediss://` servers against (PEM text: one or more
        /// `-----BEGIN CERTIFICATE-----` blocks, such as a cloud provider's bundle read from a
        /// file or a secret), instead of the Mozilla roots built in. Needed for a server whose
        /// certificate a private CA signed; a Redis URL has no parameter for it. The host name
        /// is still checked. A URL that is not `rediss://`, or PEM text without a
        /// certificate, is [`Error::TlsCa`](crate::Error::TlsCa) at connect.
        pub fn tls_ca_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
            self.shared.tls_ca_certificates = Some(pem.into());
            self
        }
    };
}

pub(crate) use shared_options;
