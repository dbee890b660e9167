//! The sessile store conformance suite against the standalone Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`; `scripts/services` starts it).

use crate::common;

sessile::store_conformance!(
    common::standalone_store(&common::run_prefix("standalone")),
    corrupt = |store, key| async move { common::write_garbage(&store, key).await },
);

#[test]
fn unreachable_server_is_unavailable() {
    sessile::testkit::__private::run(async {
        // Port 1 on loopback refuses connections.
        let error = sessile_redis::RedisStore::builder()
            .acquire_timeout(std::time::Duration::from_millis(300))
            .connect("redis://127.0.0.1:1")
            .await
            .expect_err("nothing listens on port 1");
        assert!(
            matches!(
                error,
                sessile_redis::Error::Connect(sessile::StoreError::Unavailable(_))
            ),
            "{error:?}"
        );
    });
}

#[test]
fn a_brace_in_the_key_prefix_is_a_setup_error() {
    sessile::testkit::__private::run(async {
        for prefix in ["app{", "}app:", "{x}:"] {
            // Refused before any connection: port 1 would fail differently.
            let error = sessile_redis::RedisStore::builder()
                .key_prefix(prefix)
                .connect("redis://127.0.0.1:1")
                .await
                .expect_err("a brace breaks the hash tags");
            assert!(
                matches!(error, sessile_redis::Error::InvalidKeyPrefix { .. }),
                "{prefix:?}: {error:?}"
            );
        }
    });
}
