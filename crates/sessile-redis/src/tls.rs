//! TLS for `rediss://` URLs: the CA of the options' `tls_ca_certificates`, ring as the process's
//! rustls provider, and a word about TLS when a plain connection is dropped.

use redis::cluster::ClusterClientBuilder;
use redis::{ErrorKind, RedisError};
use sessile::StoreError;

use crate::error::Error;

fn uses_tls(url: &str) -> bool {
    url.starts_with("rediss://")
}

/// The client for one server at `url`, verifying it against `pem` when given.
pub(crate) fn standalone_client(url: &str, pem: Option<&[u8]>) -> Result<redis::Client, Error> {
    let client = match certificates(&[url], pem)? {
        #[cfg(feature = "rustls")]
        Some(certificates) => redis::Client::build_with_tls(url, certificates),
        #[cfg(not(feature = "rustls"))]
        Some(never) => match never {},
        None => redis::Client::open(url),
    };
    client.map_err(Error::InvalidUrl)
}

/// The builder of a client for the Cluster at `urls`, verifying its nodes against `pem` when
/// given.
pub(crate) fn cluster_builder(
    urls: &[String],
    pem: Option<&[u8]>,
) -> Result<ClusterClientBuilder, Error> {
    let builder = ClusterClientBuilder::new(urls.to_vec());
    Ok(match certificates(urls, pem)? {
        #[cfg(feature = "rustls")]
        Some(certificates) => builder.certs(certificates),
        #[cfg(not(feature = "rustls"))]
        Some(never) => match never {},
        None => builder,
    })
}

/// What redis-rs verifies the servers at `urls` against: `None` keeps its roots (webpki-roots).
/// Installs ring as the process's rustls provider first when a URL asks for TLS.
fn certificates(
    urls: &[impl AsRef<str>],
    pem: Option<&[u8]>,
) -> Result<Option<CaCertificates>, Error> {
    if urls.iter().any(|url| uses_tls(url.as_ref())) {
        install_crypto_provider();
    }
    let Some(pem) = pem else {
        return Ok(None);
    };
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    if !pem.windows(BEGIN.len()).any(|window| window == BEGIN) {
        return Err(tls_ca(
            "no `-----BEGIN CERTIFICATE-----` block in the PEM text",
        ));
    }
    // The URL itself may hold a password: only its scheme goes into the message.
    if urls.iter().any(|url| !uses_tls(url.as_ref())) {
        return Err(tls_ca(
            "a CA is given but a URL does not use TLS (redis://); use rediss://",
        ));
    }
    #[cfg(feature = "rustls")]
    return Ok(Some(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    }));
    #[cfg(not(feature = "rustls"))]
    return Err(tls_ca(
        "sessile-redis was built without its `rustls` feature",
    ));
}

#[cfg(feature = "rustls")]
type CaCertificates = redis::TlsCertificates;
/// Without TLS support there is nothing to hold (`certificates` never returns one).
#[cfg(not(feature = "rustls"))]
type CaCertificates = std::convert::Infallible;

fn tls_ca(reason: &str) -> Error {
    Error::TlsCa {
        reason: reason.to_owned(),
    }
}

/// redis-rs builds its rustls configuration with the process's default provider. With only
/// ring compiled in, rustls picks it itself; but when another crate of the application enables
/// aws-lc-rs too, rustls cannot choose and redis-rs would panic, so name ring unless the
/// application already chose (an application that wants aws-lc-rs installs it before
/// connecting).
fn install_crypto_provider() {
    // rustls 0.23.48 deprecates ring's provider for lacking post-quantum key exchange; ring is
    // the provider this crate builds with (see ARCHITECTURE.md, "TLS to the servers").
    #[cfg(feature = "rustls")]
    #[allow(deprecated)]
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A server that accepts only TLS drops a plain connection without a word (reset, or end of
/// stream): when connecting to a `redis://` URL failed that way, say what may be the cause.
pub(crate) fn explain_plain_failure(urls: &[impl AsRef<str>], error: StoreError) -> StoreError {
    let StoreError::Unavailable(source) = &error else {
        return error;
    };
    let dropped = source.downcast_ref::<RedisError>().is_some_and(|error| {
        error.kind() == ErrorKind::IoError && !error.is_connection_refusal() && !error.is_timeout()
    });
    if dropped && urls.iter().any(|url| !uses_tls(url.as_ref())) {
        StoreError::unavailable(format!(
            "{source} (the server closed a plain connection: if it accepts only TLS, use \
             rediss://)"
        ))
    } else {
        error
    }
}
