//! The sessile store conformance suite against the standalone Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`; `scripts/services` starts it).

mod common;

sessile::store_conformance!(
    common::standalone_store(&common::run_prefix("standalone")),
    corrupt = |store, key| async move { common::write_garbage(&store, key).await },
);

#[test]
fn unreachable_server_is_unavailable() {
    sessile::testkit::__private::run(async {
        // Port 1 on loopback refuses connections.
        let error = sessile_redis::RedisStore::builder()
            .timeout(std::time::Duration::from_millis(300))
            .connect("redis://127.0.0.1:1")
            .await
            .expect_err("nothing listens on port 1");
        assert!(
            matches!(error, sessile::StoreError::Unavailable(_)),
            "{error:?}"
        );
    });
}
