//! Turns a [`ChangeSet`] into the `SET` list of one `UPDATE` on the session table.
//!
//! Data changes are applied in one of two ways:
//!
//! - **In place**, with `JSON_REMOVE`/`JSON_SET` on the stored document, when every changed key
//!   can be written as a quoted JSON path label `$."key"`. The label is the key as a JSON string
//!   literal (`"` and `\` escaped), which both MySQL and MariaDB parse as the exact key. The
//!   update is then a single statement, and the stored data never leaves the database.
//! - **Replaced**, with the whole object rewritten from Rust, for keys with control characters
//!   (their escapes inside a path are passed through verbatim by MariaDB, so whether they match
//!   depends on how the stored document spelled them) and for very large change sets. The caller
//!   then reads the data with `SELECT ... FOR UPDATE`, applies the changes with the reference
//!   semantics and writes it back in one short transaction; the row lock keeps concurrent changes
//!   to other keys from being lost.
//!
//! Values go in as `JSON_EXTRACT(?, '$')`, which both dialects treat as a JSON value (a bare
//! string argument would be stored as a JSON string). `JSON_MERGE_PATCH` is not used: as
//! RFC 7396 merge patch it merges nested objects and turns `null` values into removals.

use sessile::{ChangeSet, KeyChange, StoreError};
use sqlx::mysql::{MySql, MySqlArguments};
use sqlx::query::Query;

use crate::codec::encode_device;

/// Keys per `JSON_SET`/`JSON_REMOVE` call; larger change sets nest calls, keeping each call's
/// argument list modest.
const KEYS_PER_JSON_CALL: usize = 100;

/// Change sets with more keys than this are rewritten from Rust, which binds one value instead of
/// two per key and stays far below the 65,535 placeholders of a prepared statement.
const MAX_KEYS_IN_PLACE: usize = 1_000;

/// A value bound to one `?` of an assignment list.
#[derive(Debug, PartialEq)]
pub(super) enum Bind {
    Text(String),
    NullableText(Option<String>),
    Integer(i64),
    Bool(bool),
}

/// Where the new `data` comes from.
pub(super) enum DataSource {
    /// Change the stored JSON with the JSON functions; only when [`in_place_possible`].
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

/// Whether `key` can be addressed by a quoted JSON path label (see the module docs).
pub(super) fn key_in_place_possible(key: &str) -> bool {
    !key.chars().any(char::is_control)
}

/// Whether every changed key can be addressed in place.
pub(super) fn in_place_possible(changes: &ChangeSet) -> bool {
    changes.keys.len() <= MAX_KEYS_IN_PLACE
        && changes.keys.keys().all(|key| key_in_place_possible(key))
}

/// The JSON path of the top-level member `key`: `$."key"`, the label a JSON string literal.
pub(super) fn json_path(key: &str) -> String {
    // Serializing a string cannot fail; the fallback is never taken.
    let label = serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""));
    format!("$.{label}")
}

/// The assignments that apply `changes` to a row: `data` first, then the metadata, then the
/// activity times. Never empty: a change set without changes still yields a no-op assignment,
/// and the connection reports matched rather than changed rows (sqlx sets `CLIENT_FOUND_ROWS`),
/// so the `UPDATE`'s row count tells whether the row was there.
///
/// MySQL evaluates single-table `SET` assignments left to right, each seeing the columns already
/// assigned; none of these reads a column assigned before it.
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
            if !changes.cleared {
                for chunk in removed.chunks(KEYS_PER_JSON_CALL) {
                    expression = format!("JSON_REMOVE({expression}{})", ", ?".repeat(chunk.len()));
                    binds.extend(chunk.iter().map(|key| Bind::Text(json_path(key))));
                }
            }
            for chunk in set.chunks(KEYS_PER_JSON_CALL) {
                expression = format!(
                    "JSON_SET({expression}{})",
                    ", ?, JSON_EXTRACT(?, '$')".repeat(chunk.len())
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
        // The absolute deadline never changes, so both columns clamp to it exactly as
        // `ChangeSet::apply_to` does.
        parts.push(
            "last_seen = ?, idle_deadline = LEAST(?, absolute_deadline), \
             expires_at = LEAST(?, absolute_deadline)"
                .into(),
        );
        binds.push(Bind::Integer(touch.last_seen.as_millis()));
        binds.push(Bind::Integer(touch.idle_deadline.as_millis()));
        binds.push(Bind::Integer(touch.idle_deadline.as_millis()));
    }
    if parts.is_empty() {
        parts.push("`key` = `key`".into());
    }
    Ok(Assignments {
        sql: parts.join(", "),
        binds,
    })
}

/// Binds `binds` to the next `?`s of `query`, in order.
pub(super) fn bind_all<'q>(
    mut query: Query<'q, MySql, MySqlArguments>,
    binds: Vec<Bind>,
) -> Query<'q, MySql, MySqlArguments> {
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
    fn paths_quote_the_key_as_a_json_string() {
        assert_eq!(json_path("plain"), r#"$."plain""#);
        assert_eq!(json_path(r#"a"b"#), r#"$."a\"b""#);
        assert_eq!(json_path(r"back\slash"), r#"$."back\\slash""#);
        assert_eq!(json_path(""), r#"$."""#);
        assert_eq!(json_path("é 🎉"), "$.\"é 🎉\"");
    }

    #[test]
    fn only_control_characters_force_a_rewrite() {
        for key in ["tab\tkey", "line\nbreak", "nul\0", "\u{7f}"] {
            let mut changes = ChangeSet::default();
            changes.set(key, json!(1));
            assert!(!in_place_possible(&changes), "{key:?}");
        }
        for key in [
            "plain", "a\"b", "a\\nb", "with.dot", "a[0]", "$", "", "é 🎉", "'",
        ] {
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
            "data = JSON_SET(JSON_REMOVE(data, ?), ?, JSON_EXTRACT(?, '$')), user_id = ?"
        );
        assert_eq!(
            assignments.binds,
            vec![
                Bind::Text(r#"$."b""#.into()),
                Bind::Text(r#"$."a""#.into()),
                Bind::Text("1".into()),
                Bind::NullableText(None),
            ]
        );
    }

    #[test]
    fn clearing_starts_from_an_empty_object() {
        let mut changes = ChangeSet::default();
        changes.clear();
        changes.set("kept", json!(true));
        let assignments = assignments(&changes, DataSource::InPlace).unwrap();
        assert_eq!(
            assignments.sql,
            "data = JSON_SET('{}', ?, JSON_EXTRACT(?, '$'))"
        );
    }

    #[test]
    fn large_change_sets_nest_calls_and_very_large_ones_are_rewritten() {
        let mut changes = ChangeSet::default();
        for index in 0..250 {
            changes.set(format!("key{index}"), json!(index));
        }
        let assignments = assignments(&changes, DataSource::InPlace).unwrap();
        assert_eq!(assignments.sql.matches("JSON_SET(").count(), 3);
        assert_eq!(assignments.binds.len(), 500);
        for index in 250..=MAX_KEYS_IN_PLACE {
            changes.set(format!("key{index}"), json!(index));
        }
        assert!(!in_place_possible(&changes));
    }

    #[test]
    fn an_empty_change_set_still_matches_the_row() {
        let assignments = assignments(&ChangeSet::default(), DataSource::InPlace).unwrap();
        assert_eq!(assignments.sql, "`key` = `key`");
        assert!(assignments.binds.is_empty());
    }
}
