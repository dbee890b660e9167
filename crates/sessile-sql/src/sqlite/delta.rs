//! Turns a [`ChangeSet`] into the `SET` list of one `UPDATE` on `sessile_sessions`.
//!
//! Data changes are applied in one of two ways:
//!
//! - **In place**, with `json_remove`/`json_set` on the stored text, when every changed key can be
//!   written as a quoted SQLite JSON path label `$."key"`. The update is then a single statement,
//!   and the stored data never leaves the database.
//! - **Replaced**, with the whole object rewritten from Rust, for any other key. SQLite's path
//!   syntax has no escape for `"` inside a quoted label, and it interprets backslash escapes in
//!   labels, so a key such as `a"b` or `a\nb` cannot be addressed reliably. The caller then reads
//!   the data, applies the changes with the reference semantics and writes it back, all inside one
//!   `BEGIN IMMEDIATE` transaction, which holds the write lock from the read to the write so no
//!   concurrent change to another key can be lost.
//!
//! `json_patch` is not used: as RFC 7396 merge patch it merges nested objects and turns `null`
//! values into removals, which is not what setting a key means.

use sessile::{ChangeSet, KeyChange, StoreError};
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments};

use crate::codec::encode_device;

/// SQLite's default limit on a function's arguments is 127; one `json_set` call takes the
/// document plus two arguments per key, so larger change sets nest several calls.
const KEYS_PER_JSON_CALL: usize = 60;

/// A value bound to one `?` of an assignment list.
#[derive(Debug)]
pub(super) enum Bind {
    Text(String),
    NullableText(Option<String>),
    Integer(i64),
    Bool(bool),
}

/// Where the new `data` comes from.
pub(super) enum DataSource {
    /// Change the stored JSON with SQLite's JSON functions; only when [`in_place_possible`].
    InPlace,
    /// Replace it with this JSON text, computed by the caller.
    Replace(String),
}

/// The comma-separated assignments of an `UPDATE ... SET`, with their bound values in order.
#[derive(Debug)]
pub(super) struct Assignments {
    pub(super) sql: String,
    pub(super) binds: Vec<Bind>,
}

/// Change sets with more keys than this are rewritten from Rust, which binds one value instead of
/// two per key and so stays far below SQLite's limit on bound parameters.
const MAX_KEYS_IN_PLACE: usize = 1_000;

/// Whether every changed key can be addressed with a quoted SQLite JSON path label.
pub(super) fn in_place_possible(changes: &ChangeSet) -> bool {
    changes.keys.len() <= MAX_KEYS_IN_PLACE
        && changes
            .keys
            .keys()
            .all(|key| !key.chars().any(|c| c == '"' || c == '\\' || c.is_control()))
}

fn json_path(key: &str) -> String {
    format!("$.\"{key}\"")
}

/// The assignments that apply `changes` to a row, `data` first, then the metadata, then the
/// activity times. Never empty: a change set without changes still yields a no-op assignment,
/// so the `UPDATE`'s row count tells whether the row was there.
pub(super) fn assignments(
    changes: &ChangeSet,
    data: DataSource,
) -> Result<Assignments, StoreError> {
    let mut parts: Vec<String> = Vec::new();
    let mut binds = Vec::new();

    match data {
        DataSource::Replace(text) => {
            parts.push("data = ?".into());
            binds.push(Bind::Text(text));
        }
        DataSource::InPlace if changes.cleared || !changes.keys.is_empty() => {
            let mut expression = String::from(if changes.cleared { "'{}'" } else { "data" });
            let mut removed = Vec::new();
            let mut set = Vec::new();
            for (key, change) in &changes.keys {
                match change {
                    KeyChange::Remove => removed.push(key),
                    KeyChange::Set(value) => set.push((key, value)),
                }
            }
            // Binds follow the `?`s in text order: the innermost call (removals) comes first.
            for chunk in removed.chunks(KEYS_PER_JSON_CALL) {
                expression = format!("json_remove({expression}{})", ", ?".repeat(chunk.len()));
                binds.extend(chunk.iter().map(|key| Bind::Text(json_path(key))));
            }
            for chunk in set.chunks(KEYS_PER_JSON_CALL) {
                expression = format!(
                    "json_set({expression}{})",
                    ", ?, json(?)".repeat(chunk.len())
                );
                for (key, value) in chunk {
                    binds.push(Bind::Text(json_path(key)));
                    binds.push(Bind::Text(value.to_string()));
                }
            }
            parts.push(format!("data = {expression}"));
        }
        DataSource::InPlace => {}
    }

    if let Some(user) = &changes.user {
        parts.push("user_id = ?".into());
        binds.push(Bind::NullableText(user.clone()));
    }
    if let Some(persistent) = changes.persistent {
        parts.push("persistent = ?".into());
        binds.push(Bind::Bool(persistent));
    }
    if let Some(device) = &changes.device {
        parts.push("device = ?".into());
        binds.push(Bind::Text(encode_device(device)?));
    }
    if let Some(touch) = changes.touch {
        // The right-hand sides see the row as it was, and the absolute deadline never changes,
        // so both columns clamp to it exactly as `ChangeSet::apply_to` does.
        parts.push(
            "last_seen = ?, idle_deadline = MIN(?, absolute_deadline), \
             expires_at = MIN(?, absolute_deadline)"
                .into(),
        );
        binds.push(Bind::Integer(touch.last_seen.as_millis()));
        binds.push(Bind::Integer(touch.idle_deadline.as_millis()));
        binds.push(Bind::Integer(touch.idle_deadline.as_millis()));
    }
    if parts.is_empty() {
        parts.push("\"key\" = \"key\"".into());
    }
    Ok(Assignments {
        sql: parts.join(", "),
        binds,
    })
}

/// Binds `binds` to the next `?`s of `query`, in order.
pub(super) fn bind_all<'q>(
    mut query: Query<'q, Sqlite, SqliteArguments<'q>>,
    binds: Vec<Bind>,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text),
            Bind::NullableText(text) => query.bind(text),
            Bind::Integer(number) => query.bind(number),
            Bind::Bool(flag) => query.bind(flag),
        };
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_that_sqlite_paths_cannot_quote_need_a_rewrite() {
        for key in ["a\"b", "a\\nb", "line\nbreak", "nul\0"] {
            let mut changes = ChangeSet::default();
            changes.set(key, json!(1));
            assert!(!in_place_possible(&changes), "{key:?}");
        }
        for key in ["plain", "with.dot", "a[0]", "$", "", "é 🎉", "'quote'"] {
            let mut changes = ChangeSet::default();
            changes.set(key, json!(1));
            assert!(in_place_possible(&changes), "{key:?}");
        }
    }

    #[test]
    fn binds_follow_the_placeholders() {
        let mut changes = ChangeSet::default();
        changes.set("a", json!(1));
        changes.remove("b");
        changes.user = Some(None);
        let assignments = assignments(&changes, DataSource::InPlace).unwrap();
        assert_eq!(
            assignments.sql,
            "data = json_set(json_remove(data, ?), ?, json(?)), user_id = ?"
        );
        assert_eq!(
            assignments.sql.matches('?').count(),
            assignments.binds.len()
        );
    }

    #[test]
    fn large_change_sets_stay_within_the_function_argument_limit() {
        let mut changes = ChangeSet::default();
        for index in 0..150 {
            changes.set(format!("key{index}"), json!(index));
        }
        let assignments = assignments(&changes, DataSource::InPlace).unwrap();
        assert_eq!(assignments.sql.matches("json_set(").count(), 3);
        assert_eq!(assignments.binds.len(), 300);
    }

    #[test]
    fn an_empty_change_set_still_updates_nothing_but_matches_the_row() {
        let assignments = assignments(&ChangeSet::default(), DataSource::InPlace).unwrap();
        assert_eq!(assignments.sql, "\"key\" = \"key\"");
        assert!(assignments.binds.is_empty());
    }
}
