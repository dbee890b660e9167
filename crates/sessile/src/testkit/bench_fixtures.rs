//! Inputs the stores' delta-encoding benches share, so that their numbers compare.

use serde_json::json;

use crate::document::{Operation, Path};
use crate::{ChangeSet, SessionData, Timestamp, Touch};

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

/// The session data the delta benches' document operations resolve against: what a store with
/// operations reads under its lock (SQL) or before its compare-and-set (Redis). Eight keys,
/// 161 bytes as JSON; `cart.items`, `tags`, `n` and `step` are the values the operations of
/// [`delta_bench_operation_sets`] read.
///
/// ```
/// let data = sessile::testkit::delta_bench_stored_data();
/// assert_eq!(data.len(), 8);
/// assert_eq!(data["cart"]["items"], serde_json::json!([1, 2, 3]));
/// ```
pub fn delta_bench_stored_data() -> SessionData {
    let data = json!({
        "n": 41,
        "theme": "dark",
        "cart": {"items": [1, 2, 3], "currency": "EUR"},
        "tags": ["a", "b"],
        "step": {"page": 3, "done": false},
        "flash": "saved",
        "name": "Alice",
        "locale": "en-GB",
    });
    match data {
        serde_json::Value::Object(data) => data,
        _ => unreachable!("a JSON object literal"),
    }
}

/// The change sets with document operations the delta benches measure, each with
/// [`bench_touch`] and meant for [`delta_bench_stored_data`]: one `push` (an item added to a
/// cart), and a request mixing the kinds (`push`, `add_to_set`, an in-commit increment, a
/// nested `set_path`).
///
/// ```
/// let sets = sessile::testkit::delta_bench_operation_sets();
/// assert_eq!(sets.len(), 2);
/// assert!(sets.iter().all(|(_, changes)| !changes.operations.is_empty()));
/// let mut record = sessile::Record::new(
///     sessile::testkit::BENCH_NOW,
///     sessile::testkit::bench_touch().idle_deadline,
///     sessile::testkit::bench_touch().idle_deadline,
/// );
/// record.data = sessile::testkit::delta_bench_stored_data();
/// for (_, changes) in &sets {
///     changes.apply_to(&mut record.clone()).expect("the operations fit the data");
/// }
/// ```
pub fn delta_bench_operation_sets() -> Vec<(&'static str, ChangeSet)> {
    let path = |text: &str| Path::parse(text).expect("a valid path");
    let touched = || ChangeSet {
        touch: Some(bench_touch()),
        ..ChangeSet::default()
    };
    let mut push = touched();
    push.operate(Operation::Push {
        path: path("cart.items"),
        values: vec![json!(4)],
    });

    let mut mixed = touched();
    mixed.operate(Operation::Push {
        path: path("cart.items"),
        values: vec![json!(4)],
    });
    mixed.operate(Operation::AddToSet {
        path: path("tags"),
        values: vec![json!("new")],
    });
    mixed.operate(Operation::Increment {
        path: path("n"),
        by: 1,
    });
    mixed.operate(Operation::Set {
        path: path("step.page"),
        value: json!(4),
    });
    vec![
        ("1 push + touch", push),
        ("push, add_to_set, increment, set_path + touch", mixed),
    ]
}
