//! TLS to the TLS-only Redis (6380) and Redis Cluster (7100-7102) that `scripts/services` starts
//! beside the plain ones, with certificates from the CA it generates (`SESSILE_TLS_DIR`, default
//! `/tmp/sessile-tls`; `REDIS_TLS_URL` and `REDIS_TLS_CLUSTER_URLS` name other servers). For
//! each: the conformance suite over `rediss://` verified against the CA, a wrong CA and the
//! built-in roots alone refused as certificate problems, a plain connection refused with a word
//! about TLS, and a CA given for a plain URL refused as a setup error; and the Node layouts'
//! conformance profile (connect-redis's layout) over the same verified connection. Redis has no
//! other way to show a connection is encrypted: the servers have no plain port (`--port 0`).

use crate::common;

use std::path::PathBuf;

use sessile::testkit::__private::run;
use sessile_redis::{RedisStore, RedisStoreBuilder};

/// rustls's words for a server certificate no trusted CA signed.
const UNKNOWN_ISSUER: &str = "invalid peer certificate: UnknownIssuer";

/// A PEM file `scripts/services` generates.
fn pem(name: &str) -> Vec<u8> {
    let directory = std::env::var_os("SESSILE_TLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/sessile-tls"));
    let path = directory.join(name);
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read {} ({error}); `scripts/services` generates it and starts the TLS \
             servers (SESSILE_TLS_DIR names another directory)",
            path.display()
        )
    })
}

/// One TLS server or the nodes of a TLS Cluster.
#[derive(Debug)]
enum Server {
    Standalone(String),
    Cluster(Vec<String>),
}

impl Server {
    fn standalone() -> Self {
        Self::Standalone(
            std::env::var("REDIS_TLS_URL").unwrap_or_else(|_| "rediss://127.0.0.1:6380".to_owned()),
        )
    }

    fn cluster() -> Self {
        Self::Cluster(match std::env::var("REDIS_TLS_CLUSTER_URLS") {
            Ok(urls) => urls.split(',').map(|url| url.trim().to_owned()).collect(),
            Err(_) => (7100..=7102)
                .map(|port| format!("rediss://127.0.0.1:{port}"))
                .collect(),
        })
    }

    /// The same server asked for without TLS.
    fn plain(&self) -> Self {
        let plain = |url: &String| url.replacen("rediss://", "redis://", 1);
        match self {
            Self::Standalone(url) => Self::Standalone(plain(url)),
            Self::Cluster(urls) => Self::Cluster(urls.iter().map(plain).collect()),
        }
    }

    async fn connect(
        &self,
        builder: RedisStoreBuilder,
    ) -> Result<RedisStore, sessile_redis::Error> {
        let builder = builder.acquire_timeout(std::time::Duration::from_secs(5));
        match self {
            Self::Standalone(url) => builder.connect(url).await,
            Self::Cluster(urls) => builder.cluster(urls).await,
        }
    }
}

/// An error's message followed by its sources'.
fn message(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

fn assert_refused(result: Result<RedisStore, sessile_redis::Error>, words: &str) {
    let Err(error) = result else {
        panic!("connected, where the connection should have been refused ({words})");
    };
    let message = message(&error);
    assert!(message.contains(words), "expected {words:?} in: {message}");
}

macro_rules! tls_suite {
    ($server:expr, $prefix:literal) => {
        use super::*;

        async fn make_store() -> RedisStore {
            let server = $server;
            let builder = RedisStore::builder()
                .key_prefix(common::run_prefix($prefix))
                .tls_ca_certificates(pem("ca.pem"));
            server.connect(builder).await.unwrap_or_else(|error| {
                panic!(
                    "cannot connect over TLS to {server:?} ({error}); start it with \
                     `scripts/services` or point REDIS_TLS_URL / REDIS_TLS_CLUSTER_URLS at one"
                )
            })
        }

        sessile::store_conformance!(make_store());

        #[test]
        fn a_certificate_from_another_ca_is_refused() {
            let builder = RedisStore::builder().tls_ca_certificates(pem("wrong-ca.pem"));
            run(async { assert_refused($server.connect(builder).await, UNKNOWN_ISSUER) });
        }

        /// The Mozilla roots compiled in do not vouch for a private CA.
        #[test]
        fn without_the_ca_the_server_is_not_trusted() {
            run(async {
                assert_refused($server.connect(RedisStore::builder()).await, UNKNOWN_ISSUER)
            });
        }

        #[test]
        fn a_plain_connection_is_refused() {
            let server = $server.plain();
            run(async { assert_refused(server.connect(RedisStore::builder()).await, "rediss://") });
        }

        #[test]
        fn a_ca_for_a_plain_url_is_a_setup_error() {
            let server = $server.plain();
            let builder = RedisStore::builder().tls_ca_certificates(pem("ca.pem"));
            run(async { assert_refused(server.connect(builder).await, "does not use TLS") });
        }
    };
}

mod standalone {
    tls_suite!(Server::standalone(), "tls-standalone");
}

mod cluster {
    tls_suite!(Server::cluster(), "tls-cluster");
}

/// The Node layouts share the connection setup (and `tls_ca_certificates`) of the native store.
#[cfg(feature = "node")]
mod node {
    use std::time::Duration;

    use sessile_node::record_json::{NodeJson, NodeShape};
    use sessile_redis::node::NodeRedisStore;

    use super::*;

    async fn make_store() -> NodeRedisStore {
        let Server::Standalone(url) = Server::standalone() else {
            unreachable!("Server::standalone is one server")
        };
        let json = NodeJson::new(NodeShape::Express, Duration::from_secs(30 * 60));
        NodeRedisStore::builder(json)
            .key_prefix(common::run_prefix("tls-node-express"))
            .tls_ca_certificates(pem("ca.pem"))
            .connect(&url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "cannot connect over TLS to {url} ({error}); start it with \
                     `scripts/services` or point REDIS_TLS_URL at one"
                )
            })
    }

    /// Overwrites the session's document with text no Node package could parse, keeping its
    /// TTL, over a TLS connection of its own.
    async fn write_garbage(store: std::sync::Arc<NodeRedisStore>, key: sessile::StoreKey) {
        let Server::Standalone(url) = Server::standalone() else {
            unreachable!("Server::standalone is one server")
        };
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem("ca.pem")),
        };
        let client = redis::Client::build_with_tls(url, certificates).expect("a rediss:// URL");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("a TLS connection to Redis");
        let _: () = redis::cmd("SET")
            .arg(store.redis_key(&key).expect("a Node id"))
            .arg("{\"cookie\": not json")
            .arg("KEEPTTL")
            .query_async(&mut connection)
            .await
            .expect("SET garbage");
    }

    sessile::node_layout_conformance!(make_store(), corrupt = write_garbage);
}
