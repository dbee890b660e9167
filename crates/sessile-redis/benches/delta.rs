//! Delta encoding for the Redis store: the script arguments a change set becomes (the update
//! script applies them inside Redis) and the fields a new record is written as.
//! `cargo bench -p sessile-redis --bench delta`; numbers in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use sessile::{ChangeSet, Device, Record, Timestamp, Touch};
use sessile_redis::bench_support;

const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn touch() -> Touch {
    Touch {
        last_seen: NOW,
        idle_deadline: Timestamp::from_millis(NOW.as_millis() + 86_400_000),
    }
}

/// The same change sets as `sessile-sql`'s delta bench: one integer, a typical form post, and
/// 50 keys of ≈ 200 B, each with the touch.
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
    for (name, changes) in change_sets() {
        c.bench_function(&format!("redis update args: {name}"), |b| {
            b.iter(|| bench_support::update_args(black_box(&changes)))
        });
    }
    let record = Record {
        data: serde_json::from_value(json!({"n": 1, "theme": "dark", "cart": [1, 2, 3]}))
            .expect("an object"),
        user: Some("alice".to_owned()),
        created_at: NOW,
        last_seen: NOW,
        idle_deadline: touch().idle_deadline,
        absolute_deadline: Timestamp::from_millis(NOW.as_millis() + 7 * 86_400_000),
        persistent: false,
        device: Device::default(),
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
