//! Entry points for this crate's criterion benches (`benches/delta.rs`): the script arguments
//! the store encodes, without a server. Not part of the API: hidden from the documentation and
//! free to change in any release.

use sessile::{ChangeSet, Record};

/// The arguments that carry `changes` to the update and rotate scripts.
pub fn update_args(changes: &ChangeSet) -> Vec<String> {
    crate::layout::change_args(changes)
}

/// The hash fields and values the create script writes for `record`.
pub fn create_fields(record: &Record) -> Vec<String> {
    crate::layout::record_fields(record)
}
