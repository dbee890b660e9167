//! How many SQL statements each write costs on SQLite, read from sqlx's statement log (one
//! `sqlx::query` tracing event per statement). In a test binary of its own because it installs
//! the process-wide tracing subscriber: sqlx runs SQLite statements, and logs them, on each
//! connection's worker thread.

#![cfg(feature = "sqlite")]

mod support;

use std::sync::{Arc, Mutex};

use serde_json::json;
use sessile::{ChangeSet, IncrementOutcome, SessionId, Store, Timestamp, UpdateOutcome};
use sessile_sql::SqliteStore;
use support::sqlite::TempSqliteStore;
use support::{record_at, touch_at};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// Collects the summary (the statement's first words) of every statement sqlx logs.
#[derive(Clone, Default)]
struct StatementLog(Arc<Mutex<Vec<String>>>);

struct Summary(Option<String>);

impl Visit for Summary {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "summary" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl Subscriber for StatementLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "sqlx::query"
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut summary = Summary(None);
        event.record(&mut summary);
        if let Some(summary) = summary.0 {
            self.0.lock().unwrap().push(summary);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

impl StatementLog {
    /// The statements logged since the last call. A connection's worker thread runs its
    /// commands in order and logs each statement when it is done with it, which can be just
    /// after the caller got its result: so a marker write (a `DELETE` of a key that does not
    /// exist) follows, on the same write connection, and once it is logged every earlier
    /// statement is.
    async fn take(&self, store: &SqliteStore) -> Vec<String> {
        assert!(!store
            .delete(&SessionId::generate().store_key())
            .await
            .unwrap());
        for _ in 0..10_000 {
            {
                let mut logged = self.0.lock().unwrap();
                if logged.last().is_some_and(|last| last.starts_with("DELETE")) {
                    logged.pop();
                    return std::mem::take(&mut *logged);
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("the marker statement was never logged");
    }
}

#[tokio::test]
async fn increments_and_updates_on_addressable_keys_are_one_statement() {
    let log = StatementLog::default();
    tracing::subscriber::set_global_default(log.clone()).expect("the only subscriber");
    let temp = TempSqliteStore::open().await;
    let store = &temp.store;
    let key = SessionId::generate().store_key();
    store
        .create(&key, &record_at(START, json!({"n": 1})))
        .await
        .unwrap();
    log.take(store).await;

    assert_eq!(
        store
            .increment(&key, "n", 2, touch_at(START), START)
            .await
            .unwrap(),
        IncrementOutcome::Value(3)
    );
    // The batch statement (`WITH batch ... UPDATE`), here a batch of one.
    let statements = log.take(store).await;
    assert_eq!(statements.len(), 1, "{statements:?}");
    assert!(statements[0].starts_with("WITH batch"), "{statements:?}");

    let mut changes = ChangeSet::default();
    changes.set("cart", json!([1, 2]));
    changes.remove("n");
    changes.touch = Some(touch_at(START));
    assert_eq!(
        store.update(&key, &changes, START).await.unwrap(),
        UpdateOutcome::Applied
    );
    let statements = log.take(store).await;
    assert_eq!(statements.len(), 1, "{statements:?}");
    assert!(statements[0].starts_with("UPDATE"), "{statements:?}");

    // The log tells the paths apart: a key a JSON path cannot address, and a value that is not
    // an integer, both read the data before deciding.
    for field in ["quoted \"n\"", "cart"] {
        store
            .increment(&key, field, 1, touch_at(START), START)
            .await
            .unwrap();
        let statements = log.take(store).await;
        assert!(
            statements
                .iter()
                .any(|statement| statement.starts_with("SELECT")),
            "{field:?}: {statements:?}"
        );
    }
}
