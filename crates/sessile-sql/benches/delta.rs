//! Delta encoding per SQL store: what each store computes from a change set before it talks to
//! the database (the `UPDATE`'s text and binds for SQLite and MySQL/MariaDB, whose statements
//! depend on the changed keys; the bound delta for PostgreSQL, whose statement is fixed).
//! `cargo bench -p sessile-sql --all-features --bench delta`; numbers in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use sessile::{ChangeSet, SessionId, Timestamp, Touch};
use sessile_sql::bench_support;

const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn touch() -> Touch {
    Touch {
        last_seen: NOW,
        idle_deadline: Timestamp::from_millis(NOW.as_millis() + 86_400_000),
    }
}

/// The change sets measured: what `/count`'s write would be as an update (one integer and the
/// touch), a typical form post (3 sets, 1 removal, touch) and a large one (50 keys of ≈ 200 B).
fn change_sets() -> Vec<(&'static str, ChangeSet)> {
    let mut count = ChangeSet {
        touch: Some(touch()),
        ..ChangeSet::default()
    };
    count.set("n", json!(42));

    let mut form = ChangeSet {
        touch: Some(touch()),
        ..ChangeSet::default()
    };
    form.set("theme", json!("dark"));
    form.set("cart", json!([1, 2, 3]));
    form.set("step", json!({"page": 3, "done": false}));
    form.remove("flash");

    let mut large = ChangeSet {
        touch: Some(touch()),
        ..ChangeSet::default()
    };
    for index in 0..50 {
        large.set(format!("key{index}"), json!("x".repeat(200)));
    }
    vec![
        ("1 set + touch", count),
        ("3 sets, 1 remove + touch", form),
        ("50 sets of 200 B + touch", large),
    ]
}

fn delta(c: &mut Criterion) {
    let key = SessionId::generate().store_key();
    for (name, changes) in change_sets() {
        c.bench_function(&format!("sqlite update: {name}"), |b| {
            b.iter(|| bench_support::sqlite_update(black_box(&changes), &key, NOW).unwrap())
        });
        c.bench_function(&format!("mysql update: {name}"), |b| {
            b.iter(|| bench_support::mysql_update(black_box(&changes), &key, NOW).unwrap())
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
