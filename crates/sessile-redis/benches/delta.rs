//! Delta encoding for the Redis store: the script arguments a change set becomes (the update
//! script applies them inside Redis) and the fields a new record is written as; for a change
//! set with document operations, what the store computes between its `HMGET` and the checked
//! update script (parse the fields read, resolve the operations, the compare and change
//! arguments).
//! `cargo bench -p sessile-redis --bench delta`; numbers in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use sessile::testkit::{
    bench_touch, delta_bench_change_sets, delta_bench_operation_sets, delta_bench_stored_data,
    BENCH_NOW,
};
use sessile::{Record, Timestamp};
use sessile_redis::bench_support;

fn delta(c: &mut Criterion) {
    for (name, changes) in delta_bench_change_sets() {
        c.bench_function(&format!("redis update args: {name}"), |b| {
            b.iter(|| bench_support::update_args(black_box(&changes)))
        });
    }
    let stored = delta_bench_stored_data();
    for (name, changes) in delta_bench_operation_sets() {
        let texts = bench_support::hmget_answer(&changes, &stored);
        c.bench_function(&format!("redis checked update args: {name}"), |b| {
            b.iter(|| {
                bench_support::checked_update_args(black_box(&changes), black_box(&texts)).unwrap()
            })
        });
    }
    let record = {
        let mut record = Record::new(
            BENCH_NOW,
            bench_touch().idle_deadline,
            Timestamp::from_millis(BENCH_NOW.as_millis() + 7 * 86_400_000),
        );
        record.data = serde_json::from_value(json!({"n": 1, "theme": "dark", "cart": [1, 2, 3]}))
            .expect("an object");
        record.user = Some("alice".to_owned());
        record
    };
    c.bench_function("redis create fields: 3 keys + user", |b| {
        b.iter(|| bench_support::create_fields(black_box(&record)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    targets = delta
}
criterion_main!(benches);
