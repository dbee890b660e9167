//! Turns a [`ChangeSet`] into the `SET` list of one `UPDATE`, for the dialects that change the
//! stored JSON with path functions (SQLite, MySQL/MariaDB). What differs between them (function
//! names, how a path label is quoted, which keys a path can address) is a [`JsonDialect`].
//!
//! Data changes are applied in one of two ways:
//!
//! - **In place**, with the dialect's remove and set functions on the stored document, when
//!   every changed key can be written as a quoted JSON path label `$."key"`. The update is then a
//!   single statement, and the stored data never leaves the database.
//! - **Replaced**, with the whole object rewritten from Rust, for keys the dialect's paths cannot
//!   address reliably and for very large change sets. The caller then reads the data, applies
//!   the changes with the reference semantics and writes it back inside one transaction that
//!   keeps concurrent changes to other keys from being lost.
//!
//! RFC 7396 merge patch (`json_patch`, `JSON_MERGE_PATCH`) is not used: it merges nested objects
//! and turns `null` values into removals, which is not what setting a key means.

use sessile::change::incremented;
use sessile::{ChangeSet, KeyChange, SessionData, StoreError, StoreKey, Timestamp, Touch};
use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

use crate::codec::{encode_device, timeout_millis};

/// Change sets with more keys than this are rewritten from Rust, which binds one value instead of
/// two per key and so stays far below every dialect's limit on bound parameters.
pub(crate) const MAX_KEYS_IN_PLACE: usize = 1_000;

/// A value bound to one `?` of a statement.
/// The unclamped idle deadline of a touch on a row with the row's own idle timeout, binding the
/// touch's default deadline and then its `last_seen`: the one rule every statement that moves
/// an idle deadline without the change set's help (a touch, an increment) follows.
pub(crate) const OWN_IDLE_DEADLINE: &str =
    "CASE WHEN idle_timeout_ms IS NULL THEN ? ELSE ? + idle_timeout_ms END";

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Bind {
    Bytes(Vec<u8>),
    Text(String),
    NullableText(Option<String>),
    Integer(i64),
    NullableInteger(Option<i64>),
    Bool(bool),
}

/// Where the new `data` comes from.
pub(crate) enum DataSource {
    /// Change the stored JSON with the JSON functions; only when
    /// [`JsonDialect::in_place_possible`].
    InPlace,
    /// Replace it with this JSON text, computed by the caller.
    Replace(String),
}

/// SQL with `?` placeholders and their bound values, in order.
#[derive(Debug)]
pub(crate) struct BoundSql {
    pub(crate) sql: String,
    pub(crate) binds: Vec<Bind>,
}

/// How one dialect spells JSON path updates.
pub(crate) struct JsonDialect {
    /// The function that removes members: `name(document, path, ...)`.
    pub(crate) json_remove: &'static str,
    /// The function that sets members: `name(document, path, value, ...)`.
    pub(crate) json_set: &'static str,
    /// A bound JSON text read as a JSON value (a bare string argument would be stored as a JSON
    /// string).
    pub(crate) json_value: &'static str,
    /// Keys per remove or set call; larger change sets nest calls, keeping each call's argument
    /// list within the dialect's limit.
    pub(crate) keys_per_call: usize,
    /// The scalar function returning the smaller of two values.
    pub(crate) least: &'static str,
    /// The quoted primary key column.
    pub(crate) key_column: &'static str,
    /// Whether a key can be addressed by [`JsonDialect::json_path`].
    pub(crate) key_in_place_possible: fn(&str) -> bool,
    /// The path of the top-level member `key`.
    pub(crate) json_path: fn(&str) -> String,
}

impl JsonDialect {
    /// Whether every changed key can be addressed in place.
    /// Document operations (`ChangeSet::operations`) are applied from Rust: the row is read
    /// and written back in one locking transaction.
    pub(crate) fn in_place_possible(&self, changes: &ChangeSet) -> bool {
        changes.operations.is_empty()
            && changes.keys.len() <= MAX_KEYS_IN_PLACE
            && changes
                .keys
                .keys()
                .all(|key| (self.key_in_place_possible)(key))
    }

    /// The assignments that apply `changes` to a row, `data` first, then the metadata, then the
    /// activity times. Never empty: a change set without changes still yields a no-op
    /// assignment, so the `UPDATE`'s row count tells whether the row was there.
    ///
    /// No assignment reads a column assigned before it, so the list means the same whether the
    /// right-hand sides see the old row (SQLite) or the columns assigned so far (MySQL).
    pub(crate) fn assignments(
        &self,
        changes: &ChangeSet,
        data: DataSource,
    ) -> Result<BoundSql, StoreError> {
        let mut parts: Vec<String> = Vec::new();
        let mut binds = Vec::new();

        match data {
            DataSource::Replace(text) => {
                parts.push("data = ?".into());
                binds.push(Bind::Text(text));
            }
            DataSource::InPlace if changes.cleared || !changes.keys.is_empty() => {
                parts.push(format!(
                    "data = {}",
                    self.data_expression(changes, &mut binds)
                ));
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
        if let Some(idle_timeout) = changes.idle_timeout {
            parts.push("idle_timeout_ms = ?".into());
            binds.push(Bind::NullableInteger(timeout_millis(idle_timeout)));
        }
        if let Some(absolute_deadline) = changes.absolute_deadline {
            parts.push("absolute_deadline = ?".into());
            binds.push(Bind::Integer(absolute_deadline.as_millis()));
        }
        if let Some(touch) = changes.touch {
            // Both columns clamp to the absolute deadline exactly as `ChangeSet::apply_to`
            // does. The expressions never read a column this statement sets: MySQL reads the
            // new value of a column assigned earlier in the `SET` list, SQLite the old one.
            let deadline = self.touched_deadline(changes, touch);
            parts.push(format!(
                "last_seen = ?, idle_deadline = {0}, expires_at = {0}",
                deadline.sql
            ));
            binds.push(Bind::Integer(touch.last_seen.as_millis()));
            binds.extend(deadline.binds.iter().cloned());
            binds.extend(deadline.binds);
        }
        if parts.is_empty() {
            parts.push(format!("{0} = {0}", self.key_column));
        }
        Ok(BoundSql {
            sql: parts.join(", "),
            binds,
        })
    }

    /// The new `data` with the changed keys removed and set in place, pushing its binds.
    /// The clamped idle deadline `touch` gives the row after `changes`: by the session's own
    /// idle timeout (the one `changes` sets, else the row's `idle_timeout_ms`) when it has
    /// one, else the touch's deadline ([`Touch::idle_deadline_for`]).
    pub(crate) fn touched_deadline(&self, changes: &ChangeSet, touch: Touch) -> BoundSql {
        let least = self.least;
        let mut binds = Vec::new();
        let idle = match changes.idle_timeout {
            Some(own) => {
                binds.push(Bind::Integer(touch.idle_deadline_for(own).as_millis()));
                "?".to_owned()
            }
            None => {
                binds.push(Bind::Integer(touch.idle_deadline.as_millis()));
                binds.push(Bind::Integer(touch.last_seen.as_millis()));
                OWN_IDLE_DEADLINE.to_owned()
            }
        };
        let absolute = match changes.absolute_deadline {
            Some(absolute) => {
                binds.push(Bind::Integer(absolute.as_millis()));
                "?"
            }
            None => "absolute_deadline",
        };
        BoundSql {
            sql: format!("{least}({idle}, {absolute})"),
            binds,
        }
    }

    fn data_expression(&self, changes: &ChangeSet, binds: &mut Vec<Bind>) -> String {
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
        // Removing from the empty object a clear starts with would change nothing.
        if !changes.cleared {
            for chunk in removed.chunks(self.keys_per_call) {
                expression = format!(
                    "{}({expression}{})",
                    self.json_remove,
                    ", ?".repeat(chunk.len())
                );
                binds.extend(chunk.iter().map(|key| Bind::Text((self.json_path)(key))));
            }
        }
        let set_arguments = format!(", ?, {}", self.json_value);
        for chunk in set.chunks(self.keys_per_call) {
            expression = format!(
                "{}({expression}{})",
                self.json_set,
                set_arguments.repeat(chunk.len())
            );
            for (key, value) in chunk {
                binds.push(Bind::Text((self.json_path)(key)));
                binds.push(Bind::Text(value.to_string()));
            }
        }
        expression
    }

    /// The `UPDATE` of `table` that applies `assignments` to the live row under `from`, also
    /// moving it to `to` when that is another key.
    pub(crate) fn update_live_row(
        &self,
        table: &str,
        from: &StoreKey,
        to: &StoreKey,
        assignments: BoundSql,
        now: Timestamp,
    ) -> BoundSql {
        let key = self.key_column;
        let mut binds = Vec::with_capacity(assignments.binds.len() + 3);
        let key_assignment = if from == to {
            String::new()
        } else {
            binds.push(Bind::Bytes(to.as_bytes().to_vec()));
            format!("{key} = ?, ")
        };
        binds.extend(assignments.binds);
        binds.push(Bind::Bytes(from.as_bytes().to_vec()));
        binds.push(Bind::Integer(now.as_millis()));
        BoundSql {
            sql: format!(
                "UPDATE {table} SET {key_assignment}{} WHERE {key} = ? AND expires_at > ?",
                assignments.sql
            ),
            binds,
        }
    }
}

/// Binds `binds` to the next `?`s of `query`, in order.
pub(crate) fn bind_all<'q, DB>(
    mut query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    binds: Vec<Bind>,
) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    Vec<u8>: Encode<'q, DB> + Type<DB>,
    String: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
{
    for bind in binds {
        query = match bind {
            Bind::Bytes(bytes) => query.bind(bytes),
            Bind::Text(text) => query.bind(text),
            Bind::NullableText(text) => query.bind(text),
            Bind::Integer(number) => query.bind(number),
            Bind::NullableInteger(number) => query.bind(number),
            Bind::Bool(flag) => query.bind(flag),
        };
    }
    query
}

/// Applies the data part of `changes` (`cleared`, `keys`, then the document operations)
/// exactly as [`ChangeSet::apply_to`] does, for the change sets a dialect cannot apply in
/// place. A refusal ([`StoreError::Operation`]) leaves nothing to write back.
pub(crate) fn apply_data_changes(
    changes: &ChangeSet,
    data: &mut SessionData,
) -> Result<(), StoreError> {
    Ok(changes.apply_data_to(data)?)
}

/// Adds `by` to `field` of `data` with the reference overflow and type rules ([`incremented`]);
/// the new value, or `None` (and `data` unchanged) when the field is not an integer or the sum
/// overflows.
pub(crate) fn increment_field(data: &mut SessionData, field: &str, by: i64) -> Option<i64> {
    let value = incremented(data.get(field), by)?;
    data.insert(field.to_owned(), value.into());
    Some(value)
}

/// The change set of an increment written back from Rust: the new data, and the touch.
pub(crate) fn touch_only(touch: Touch) -> ChangeSet {
    let mut changes = ChangeSet::default();
    changes.touch = Some(touch);
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sessile::Record;

    #[test]
    fn data_changes_match_the_reference_application() {
        let mut changes = ChangeSet::default();
        changes.clear();
        changes.set("kept", json!({"nested": [1, 2]}));
        changes.remove("gone");
        let mut record = {
            let mut record = Record::new(
                Timestamp::from_millis(0),
                Timestamp::from_millis(1),
                Timestamp::from_millis(1),
            );
            record.data = serde_json::from_value(json!({"old": 1, "gone": 2})).unwrap();
            record
        };
        let mut data = record.data.clone();
        apply_data_changes(&changes, &mut data).unwrap();
        changes.apply_to(&mut record).unwrap();
        assert_eq!(data, record.data);
    }
}
