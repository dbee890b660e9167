//! The document operation cases (issue 15): each operation as [`ChangeSet::apply_to`] defines
//! it, a refusal that writes nothing, and the concurrency that makes them worth having: many
//! requests changing one array or counter at once lose nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::cases::{create, data, fresh_key, load_live, now, record_at, touched, MINUTE};
use crate::change::ChangeSet;
use crate::document::{End, Operation, Path};
use crate::id::StoreKey;
use crate::record::Record;
use crate::store::{Store, StoreError, UpdateOutcome};
use crate::time::Timestamp;

const CONCURRENT_OPERATIONS: usize = 200;

fn path(text: &str) -> Path {
    Path::parse(text).expect("a valid path")
}

fn operating(operations: Vec<Operation>, at: Timestamp) -> ChangeSet {
    let mut changes = ChangeSet::default();
    for operation in operations {
        changes.operate(operation);
    }
    touched(changes, at)
}

/// Creates a session holding `initial`, applies `changes` with `update`, and checks the stored
/// data is `expected` and what the reference `apply_to` computes.
async fn check_update<S: Store>(store: S, initial: Value, changes: ChangeSet, expected: Value) {
    let t = now();
    let key = fresh_key();
    let mut record = record_at(t);
    record.data = data(initial);
    create(&store, &key, &record).await;
    let at = t + MINUTE;
    let mut changes = changes;
    changes.touch = Some(super::cases::touch_at(at));
    let outcome = store.update(&key, &changes, at).await;
    assert!(
        matches!(outcome, Ok(UpdateOutcome::Applied)),
        "update with document operations {:?} answered {outcome:?}",
        changes.operations
    );
    let mut reference = record.clone();
    changes
        .apply_to(&mut reference)
        .expect("the reference applies the case's operations");
    assert_eq!(
        reference.data,
        data(expected.clone()),
        "the reference semantics"
    );
    let loaded = load_live(&store, &key, at).await;
    assert_eq!(
        Value::Object(loaded.data),
        expected,
        "stored data after {:?}",
        changes.operations
    );
    assert_eq!(
        loaded.idle_deadline,
        at + super::cases::IDLE,
        "the touch of the same commit"
    );
}

/// `push` and `push_all` append in order, on a nested path, creating the array (and the objects
/// on the way) when absent; `null` counts as an empty array.
pub async fn operation_push_appends<S: Store>(store: S) {
    let changes = operating(
        vec![
            Operation::Push {
                path: path("cart.items"),
                values: vec![json!("b")],
            },
            Operation::Push {
                path: path("cart.items"),
                values: vec![json!({"sku": 1}), json!([2])],
            },
            Operation::Push {
                path: path("new.list"),
                values: vec![json!(1)],
            },
            Operation::Push {
                path: path("empty"),
                values: vec![json!(true)],
            },
        ],
        now(),
    );
    check_update(
        store,
        json!({"cart": {"items": ["a"], "total": 3}, "empty": null, "other": 1}),
        changes,
        json!({
            "cart": {"items": ["a", "b", {"sku": 1}, [2]], "total": 3},
            "new": {"list": [1]},
            "empty": [true],
            "other": 1
        }),
    )
    .await;
}

/// `pop` removes the first or the last element; on an empty or absent array it does nothing.
pub async fn operation_pop_removes_first_or_last<S: Store>(store: S) {
    let pop = |p: &str, end| Operation::Pop { path: path(p), end };
    let changes = operating(
        vec![
            pop("list", End::First),
            pop("list", End::Last),
            pop("one", End::Last),
            pop("none", End::First),
            pop("deep.list", End::Last),
        ],
        now(),
    );
    check_update(
        store,
        json!({"list": [1, 2, 3, 4], "one": [], "deep": {"list": ["x", "y"]}}),
        changes,
        json!({"list": [2, 3], "one": [], "deep": {"list": ["x"]}}),
    )
    .await;
}

/// `pull` and `pull_all` remove every element equal to a value (JSON equality: `1` is not
/// `1.0`, member order does not matter).
pub async fn operation_pull_removes_every_equal_element<S: Store>(store: S) {
    let changes = operating(
        vec![
            Operation::Pull {
                path: path("tags"),
                values: vec![json!("a")],
            },
            Operation::Pull {
                path: path("mixed"),
                values: vec![json!(1), json!({"x": 1, "y": 2}), json!([1])],
            },
            Operation::Pull {
                path: path("absent"),
                values: vec![json!(1)],
            },
        ],
        now(),
    );
    check_update(
        store,
        json!({
            "tags": ["a", "b", "a", "c", "a"],
            "mixed": [1, 1.5, 2, {"y": 2, "x": 1}, [1], [1, 2], 1, "1"]
        }),
        changes,
        json!({"tags": ["b", "c"], "mixed": [1.5, 2, [1, 2], "1"]}),
    )
    .await;
}

/// `add_to_set` appends only the values not already present, each once.
pub async fn operation_add_to_set_appends_only_missing_values<S: Store>(store: S) {
    let changes = operating(
        vec![
            Operation::AddToSet {
                path: path("roles"),
                values: vec![json!("admin"), json!("editor"), json!("editor")],
            },
            Operation::AddToSet {
                path: path("prefs.seen"),
                values: vec![json!({"id": 1})],
            },
        ],
        now(),
    );
    check_update(
        store,
        json!({"roles": ["viewer", "admin"], "prefs": {"seen": [{"id": 1}]}}),
        changes,
        json!({"roles": ["viewer", "admin", "editor"], "prefs": {"seen": [{"id": 1}]}}),
    )
    .await;
}

/// `rename` moves a value (a nested one too) without the handler reading it, replacing what
/// the target held; renaming an absent value does nothing.
pub async fn operation_rename_moves_a_value_in_the_store<S: Store>(store: S) {
    let rename = |from: &str, to: &str| Operation::Rename {
        from: path(from),
        to: path(to),
    };
    let changes = operating(
        vec![
            rename("draft", "published"),
            rename("a.b", "c"),
            rename("missing", "kept"),
        ],
        now(),
    );
    check_update(
        store,
        json!({"draft": {"title": "t"}, "published": 1, "a": {"b": [1], "z": 0}, "kept": 2}),
        changes,
        json!({"published": {"title": "t"}, "a": {"z": 0}, "c": [1], "kept": 2}),
    )
    .await;
}

/// An increment inside the commit follows the integer rule (absent and `null` count as 0), on
/// nested paths too.
pub async fn operation_increment_adds_in_the_commit<S: Store>(store: S) {
    let increment = |p: &str, by| Operation::Increment { path: path(p), by };
    let changes = operating(
        vec![
            increment("n", 5),
            increment("n", -2),
            increment("absent", 1),
            increment("nothing", 7),
            increment("stats.views", 10),
        ],
        now(),
    );
    check_update(
        store,
        json!({"n": 40, "nothing": null, "stats": {"views": 1}}),
        changes,
        json!({"n": 43, "absent": 1, "nothing": 7, "stats": {"views": 11}}),
    )
    .await;
}

/// Nested set and remove follow dotted paths (creating objects for a set, doing nothing for a
/// missing one on remove), and operations apply in order after the plain key changes: a key
/// set and then pushed to, a plain set recorded after an operation.
pub async fn operation_paths_and_order_follow_the_reference<S: Store>(store: S) {
    let mut changes = ChangeSet::default();
    changes.set("plain", json!([1]));
    changes.remove("gone");
    changes.operate(Operation::Set {
        path: path("account.profile.name"),
        value: json!("Ada"),
    });
    changes.operate(Operation::Remove {
        path: path("account.old"),
    });
    changes.operate(Operation::Remove {
        path: path("nowhere.deep"),
    });
    changes.operate(Operation::Push {
        path: path("plain"),
        values: vec![json!(2)],
    });
    // Recorded after an operation, so applied after it: the push above is overwritten.
    changes.set("late", json!("x"));
    changes.operate(Operation::Push {
        path: path("late2"),
        values: vec![json!(0)],
    });
    changes.set("late2", json!("replaced"));
    check_update(
        store,
        json!({"gone": 1, "account": {"old": true, "id": 7}, "keep": "k"}),
        changes,
        json!({
            "plain": [1, 2],
            "account": {"profile": {"name": "Ada"}, "id": 7},
            "keep": "k",
            "late": "x",
            "late2": "replaced"
        }),
    )
    .await;
}

/// A commit whose operations do not fit the data (a push to a string, an increment of a
/// string, a path through a number, a pop of an object) is refused as a whole: the store
/// answers [`StoreError::Operation`] and nothing of it is written, not its plain keys, not its
/// user, not its touch.
pub async fn operation_type_mismatch_refuses_the_whole_commit<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let mut record = record_at(t);
    record.data = data(json!({"name": "text", "n": 1, "obj": {"a": 1}, "list": [1]}));
    create(&store, &key, &record).await;
    let at = t + MINUTE;
    let refusals = [
        Operation::Push {
            path: path("name"),
            values: vec![json!(1)],
        },
        Operation::Increment {
            path: path("name"),
            by: 1,
        },
        Operation::Set {
            path: path("n.deeper"),
            value: json!(1),
        },
        Operation::Pop {
            path: path("obj"),
            end: End::Last,
        },
        Operation::AddToSet {
            path: path("list.x"),
            values: vec![json!(1)],
        },
        Operation::Increment {
            path: path("n"),
            by: i64::MAX,
        },
    ];
    for refused in refusals {
        let mut changes = ChangeSet::default();
        changes.set("plain", json!("must not be written"));
        changes.operate(Operation::Push {
            path: path("list"),
            values: vec![json!("before the refusal")],
        });
        changes.operate(refused.clone());
        changes.user = Some(Some("must-not-sign-in".to_owned()));
        let changes = touched(changes, at);
        let answer = store.update(&key, &changes, at).await;
        assert!(
            matches!(answer, Err(StoreError::Operation(_))),
            "{refused:?} must refuse the commit with StoreError::Operation, got {answer:?}"
        );
        let loaded = load_live(&store, &key, at).await;
        assert_eq!(loaded.data, record.data, "{refused:?} wrote data");
        assert_eq!(loaded.user, None, "{refused:?} changed the user");
        assert_eq!(
            loaded.idle_deadline, record.idle_deadline,
            "{refused:?} wrote the touch"
        );
    }
    // A session that is gone stays gone: operations never create one.
    let missing = fresh_key();
    let changes = operating(
        vec![Operation::Push {
            path: path("list"),
            values: vec![json!(1)],
        }],
        at,
    );
    let answer = store.update(&missing, &changes, at).await;
    assert!(
        matches!(answer, Ok(UpdateOutcome::Gone)),
        "operations on a missing session answered {answer:?}"
    );
    assert!(store.load(&missing, at).await.expect("load").is_none());
}

/// Runs `count` updates at once on the session `key`, the `i`-th with `changes(i)`; every one
/// must apply.
async fn concurrently<S: Store>(
    store: &Arc<S>,
    key: &StoreKey,
    at: Timestamp,
    count: usize,
    changes: impl Fn(usize) -> ChangeSet,
) {
    let mut writers = JoinSet::new();
    for i in 0..count {
        let store = store.clone();
        let key = key.clone();
        let changes = changes(i);
        writers.spawn(async move { store.update(&key, &changes, at).await });
    }
    while let Some(joined) = writers.join_next().await {
        let answer = joined.expect("update task panicked");
        assert!(
            matches!(answer, Ok(UpdateOutcome::Applied)),
            "a concurrent update with document operations answered {answer:?}"
        );
    }
}

async fn session_with<S: Store>(store: &S, initial: Value) -> (StoreKey, Record, Timestamp) {
    let t = now();
    let key = fresh_key();
    let mut record = record_at(t);
    record.data = data(initial);
    create(store, &key, &record).await;
    (key, record, t + MINUTE)
}

/// 200 concurrent pushes to one array keep 200 elements, each value exactly once.
pub async fn concurrent_pushes_to_one_array_all_persist<S: Store>(store: S) {
    let store = Arc::new(store);
    let (key, _, at) = session_with(&*store, json!({"cart": {"items": []}})).await;
    concurrently(&store, &key, at, CONCURRENT_OPERATIONS, |i| {
        operating(
            vec![Operation::Push {
                path: path("cart.items"),
                values: vec![json!(i)],
            }],
            at,
        )
    })
    .await;
    let loaded = load_live(&*store, &key, at).await;
    let items = loaded.data["cart"]["items"]
        .as_array()
        .expect("the array stays an array")
        .clone();
    assert_eq!(
        items.len(),
        CONCURRENT_OPERATIONS,
        "concurrent pushes lost elements"
    );
    let distinct: BTreeSet<String> = items.iter().map(Value::to_string).collect();
    assert_eq!(distinct.len(), CONCURRENT_OPERATIONS, "each push once");
}

/// 200 concurrent `add_to_set` of 20 distinct values leave exactly those 20.
pub async fn concurrent_add_to_set_keeps_each_value_once<S: Store>(store: S) {
    let store = Arc::new(store);
    let (key, _, at) = session_with(&*store, json!({})).await;
    concurrently(&store, &key, at, CONCURRENT_OPERATIONS, |i| {
        operating(
            vec![Operation::AddToSet {
                path: path("seen"),
                values: vec![json!(format!("v{}", i % 20))],
            }],
            at,
        )
    })
    .await;
    let loaded = load_live(&*store, &key, at).await;
    let seen = loaded.data["seen"].as_array().expect("an array").clone();
    let distinct: BTreeSet<String> = seen.iter().map(Value::to_string).collect();
    assert_eq!(seen.len(), 20, "add_to_set added a value twice: {seen:?}");
    assert_eq!(distinct.len(), 20, "add_to_set lost a value: {seen:?}");
}

/// Pushes of new values concurrent with pulls of the old ones lose none: every old value is
/// gone and every new one is there, once.
pub async fn concurrent_pushes_and_pulls_of_other_values_lose_none<S: Store>(store: S) {
    let store = Arc::new(store);
    let half = CONCURRENT_OPERATIONS / 2;
    let old: Vec<Value> = (0..half).map(|i| json!(format!("old{i}"))).collect();
    let (key, _, at) = session_with(&*store, json!({ "list": old })).await;
    concurrently(&store, &key, at, CONCURRENT_OPERATIONS, |i| {
        let operation = if i % 2 == 0 {
            Operation::Push {
                path: path("list"),
                values: vec![json!(format!("new{}", i / 2))],
            }
        } else {
            Operation::Pull {
                path: path("list"),
                values: vec![json!(format!("old{}", i / 2))],
            }
        };
        operating(vec![operation], at)
    })
    .await;
    let loaded = load_live(&*store, &key, at).await;
    let list: BTreeSet<String> = loaded.data["list"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|value| value.as_str().expect("strings").to_owned())
        .collect();
    let expected: BTreeSet<String> = (0..half).map(|i| format!("new{i}")).collect();
    assert_eq!(list, expected, "pushes and pulls of other values lost some");
    assert_eq!(loaded.data["list"].as_array().map(Vec::len), Some(half));
}

/// A rename concurrent with a set of another key keeps both, on each of 50 sessions.
pub async fn rename_concurrent_with_a_set_of_another_key_keeps_both<S: Store>(store: S) {
    let store = Arc::new(store);
    let mut sessions = Vec::new();
    for _ in 0..50 {
        sessions.push(session_with(&*store, json!({"draft": [1, 2], "other": 0})).await);
    }
    let mut writers = JoinSet::new();
    for (key, _, at) in &sessions {
        let (at, rename_store, set_store) = (*at, store.clone(), store.clone());
        let (rename_key, set_key) = (key.clone(), key.clone());
        writers.spawn(async move {
            let rename = operating(
                vec![Operation::Rename {
                    from: path("draft"),
                    to: path("published"),
                }],
                at,
            );
            rename_store.update(&rename_key, &rename, at).await
        });
        writers.spawn(async move {
            let mut set = ChangeSet::default();
            set.set("other", json!("set"));
            set_store.update(&set_key, &touched(set, at), at).await
        });
    }
    while let Some(joined) = writers.join_next().await {
        let answer = joined.expect("update task panicked");
        assert!(matches!(answer, Ok(UpdateOutcome::Applied)), "{answer:?}");
    }
    for (key, _, at) in &sessions {
        let loaded = load_live(&*store, key, *at).await;
        assert_eq!(
            Value::Object(loaded.data),
            json!({"published": [1, 2], "other": "set"}),
            "a rename and a concurrent set of another key must both persist"
        );
    }
}

/// 200 concurrent increments inside commits add up to 200.
pub async fn concurrent_increments_in_the_commit_add_up<S: Store>(store: S) {
    let store = Arc::new(store);
    let (key, _, at) = session_with(&*store, json!({"stats": {"hits": 0}})).await;
    concurrently(&store, &key, at, CONCURRENT_OPERATIONS, |_| {
        operating(
            vec![Operation::Increment {
                path: path("stats.hits"),
                by: 1,
            }],
            at,
        )
    })
    .await;
    let loaded = load_live(&*store, &key, at).await;
    assert_eq!(
        loaded.data["stats"]["hits"],
        json!(CONCURRENT_OPERATIONS),
        "concurrent in-commit increments lost some"
    );
}
