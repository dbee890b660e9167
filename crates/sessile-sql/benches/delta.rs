//! Delta encoding per SQL store: what each store computes from a change set before it talks to
//! the database (the `UPDATE`'s text and binds for SQLite and MySQL/MariaDB, whose statements
//! depend on the changed keys; the bound delta for PostgreSQL, whose statement is fixed).
//! `cargo bench -p sessile-sql --all-features --bench delta`; numbers in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sessile::testkit::{delta_bench_change_sets, BENCH_NOW};
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
