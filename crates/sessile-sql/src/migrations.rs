//! The shape of a schema migration, shared by every dialect. Each dialect lists its own
//! migrations (embedded SQL files under `migrations/<dialect>/`) and runs them with its own
//! locking, because how DDL and locks combine differs between databases.

/// One step of a dialect's schema history.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) struct Migration {
    /// Applied in increasing order; recorded once applied, never reused.
    pub(crate) version: i64,
    /// What the step does, recorded beside the version for operators.
    pub(crate) description: &'static str,
    /// The statements, run in one transaction where the dialect allows transactional DDL.
    pub(crate) sql: &'static str,
}
