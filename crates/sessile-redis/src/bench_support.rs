//! Entry points for this crate's criterion benches (`benches/delta.rs`): the script arguments
//! the store encodes, without a server. Not part of the API: hidden from the documentation and
//! free to change in any release.

use sessile::{ChangeSet, Record, SessionData, StoreError};

/// The arguments that carry `changes` to the update and rotate scripts.
pub fn update_args(changes: &ChangeSet) -> Vec<String> {
    crate::layout::change_args(changes)
}

/// The hash fields and values the create script writes for `record`.
pub fn create_fields(record: &Record) -> Vec<String> {
    crate::layout::record_fields(record)
}

/// What Redis would answer to the checked update's `HMGET` when the session holds `data`: the
/// texts of the fields `changes`'s document operations touch (a bench's input, not measured).
pub fn hmget_answer(changes: &ChangeSet, data: &SessionData) -> Vec<Option<String>> {
    let (touched, _) = crate::layout::operation_fields(changes);
    touched
        .iter()
        .map(|key| data.get(*key).map(|value| value.to_string()))
        .collect()
}

/// Everything the store computes in Rust for a change set with document operations, given
/// the `HMGET` answer: the fields to read, the compare arguments and the resolved change set's
/// script arguments of `update_checked.lua` (see `RedisStore`'s `update_with_operations`).
pub fn checked_update_args(
    changes: &ChangeSet,
    texts: &[Option<String>],
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let (touched, fields) = crate::layout::operation_fields(changes);
    let (checks, resolved) = crate::layout::checked_update(changes, &touched, &fields, texts)?;
    Ok((checks, crate::layout::change_args(&resolved)))
}
