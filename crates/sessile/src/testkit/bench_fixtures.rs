//! Inputs the stores' delta-encoding benches share, so that their numbers compare.

use serde_json::json;

use crate::{ChangeSet, Timestamp, Touch};

/// The instant the delta benches run at.
pub const BENCH_NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// The touch of every benched change set: seen at [`BENCH_NOW`], idle for a day.
pub fn bench_touch() -> Touch {
    Touch {
        last_seen: BENCH_NOW,
        idle_deadline: Timestamp::from_millis(BENCH_NOW.as_millis() + 86_400_000),
    }
}

/// The change sets the delta benches measure, each with [`bench_touch`]: what `/count`'s write
/// would be as an update (one integer), a typical form post (3 sets, 1 removal) and a large one
/// (50 keys of ≈ 200 B).
///
/// ```
/// let sets = sessile::testkit::delta_bench_change_sets();
/// assert_eq!(sets.len(), 3);
/// assert!(sets.iter().all(|(_, changes)| changes.touch.is_some()));
/// ```
pub fn delta_bench_change_sets() -> Vec<(&'static str, ChangeSet)> {
    let touched = || ChangeSet {
        touch: Some(bench_touch()),
        ..ChangeSet::default()
    };
    let mut count = touched();
    count.set("n", json!(42));

    let mut form = touched();
    form.set("theme", json!("dark"));
    form.set("cart", json!([1, 2, 3]));
    form.set("step", json!({"page": 3, "done": false}));
    form.remove("flash");

    let mut large = touched();
    for index in 0..50 {
        large.set(format!("key{index}"), json!("x".repeat(200)));
    }
    vec![
        ("1 set + touch", count),
        ("3 sets, 1 remove + touch", form),
        ("50 sets of 200 B + touch", large),
    ]
}
