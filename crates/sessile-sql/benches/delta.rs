//! Delta encoding per SQL store: what each store computes from a change set before it talks to
//! the database (the `UPDATE`'s text and binds for SQLite and MySQL/MariaDB, whose statements
//! depend on the changed keys; the bound delta for PostgreSQL, whose statement is fixed), and
//! for a change set with document operations what each store computes between reading the
//! locked row and writing it back (decode, apply or resolve, encode, the statement).
//! `cargo bench -p sessile-sql --all-features --bench delta`; numbers in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sessile::testkit::{
    delta_bench_change_sets, delta_bench_operation_sets, delta_bench_stored_data, BENCH_NOW,
};
use sessile::SessionId;
use sessile_sql::bench_support;

fn delta(c: &mut Criterion) {
    let key = SessionId::generate().store_key();
    for (name, changes) in delta_bench_change_sets() {
        c.bench_function(&format!("sqlite update: {name}"), |b| {
            b.iter(|| bench_support::sqlite_update(black_box(&changes), &key, BENCH_NOW).unwrap())
        });
        c.bench_function(&format!("mysql update: {name}"), |b| {
            b.iter(|| bench_support::mysql_update(black_box(&changes), &key, BENCH_NOW).unwrap())
        });
        c.bench_function(&format!("postgres delta: {name}"), |b| {
            b.iter(|| bench_support::postgres_delta(black_box(&changes)).unwrap())
        });
    }
    // The data text the locked read returns (SQLite's `json(data)`, MySQL's `CAST(data AS
    // CHAR)` and PostgreSQL's `data::text` differ only in spacing).
    let stored = serde_json::to_string(&delta_bench_stored_data()).expect("JSON");
    for (name, changes) in delta_bench_operation_sets() {
        c.bench_function(&format!("sqlite read-apply-write: {name}"), |b| {
            b.iter(|| {
                bench_support::sqlite_rewrite(
                    black_box(&changes),
                    black_box(&stored),
                    &key,
                    BENCH_NOW,
                )
                .unwrap()
            })
        });
        c.bench_function(&format!("mysql read-apply-write: {name}"), |b| {
            b.iter(|| {
                bench_support::mysql_rewrite(
                    black_box(&changes),
                    black_box(&stored),
                    &key,
                    BENCH_NOW,
                )
                .unwrap()
            })
        });
        c.bench_function(&format!("postgres resolve + delta: {name}"), |b| {
            b.iter(|| {
                bench_support::postgres_resolved_delta(black_box(&changes), black_box(&stored))
                    .unwrap()
            })
        });
    }
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
