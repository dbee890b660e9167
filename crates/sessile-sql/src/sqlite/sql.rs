//! The statements of a [`super::SqliteStore`], rendered once for its table. Times are Unix
//! milliseconds in `INTEGER` columns.

use super::batch::BatchStatements;
use crate::names::TableNames;

/// The SQL of the store operations on one table.
#[derive(Debug)]
pub(super) struct Statements {
    /// The quoted table, for the statements built per call (deltas, increment batches).
    pub(super) table: String,
    pub(super) load: String,
    pub(super) live_data: String,
    pub(super) create: String,
    pub(super) live_key_exists: String,
    pub(super) delete: String,
    pub(super) list_user_sessions: String,
    pub(super) user_sessions: String,
    pub(super) scan: String,
    pub(super) delete_user_sessions: String,
    pub(super) delete_expired: String,
    pub(super) count_live: String,
    pub(super) forward_insert: String,
    pub(super) forward_delete: String,
    pub(super) forwards_delete_lapsed: String,
    /// The group-committed increments' statements, one per batch size.
    pub(super) increment_batch: BatchStatements,
}

impl Statements {
    pub(super) fn new(names: &TableNames) -> Self {
        let t = names.sessions();
        let f = names.forwards();
        Self {
            forward_insert: format!(
                "INSERT INTO {f} (\"key\", target, sealed_id, until) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (\"key\") DO UPDATE SET target = excluded.target, \
                     sealed_id = excluded.sealed_id, until = excluded.until"
            ),
            forward_delete: format!("DELETE FROM {f} WHERE \"key\" = ?"),
            forwards_delete_lapsed: format!(
                "DELETE FROM {f} WHERE \"key\" IN (SELECT \"key\" FROM {f} \
                 WHERE until <= ? ORDER BY until LIMIT ?)"
            ),
            // Expired rows too: `lookup` tells expired from missing in Rust, from this one read.
            // The row, expired or not, and the forward pointer under the key when there is no
            // row (`codec::LookupRow`): one statement for a miss too.
            load: format!(
                "SELECT s.data, s.user_id, s.created_at, s.last_seen, s.idle_deadline, \
                     s.absolute_deadline, s.persistent, s.device, s.idle_timeout_ms, \
                     p.target AS forward_target, p.sealed_id AS forward_sealed_id, \
                     p.until AS forward_until \
                 FROM (SELECT ? AS \"key\") AS probe \
                 LEFT JOIN {t} AS s ON s.\"key\" = probe.\"key\" \
                 LEFT JOIN {f} AS p ON p.\"key\" = probe.\"key\" AND s.\"key\" IS NULL"
            ),
            live_data: format!("SELECT data FROM {t} WHERE \"key\" = ? AND expires_at > ?"),
            // A conflicting row is replaced only if it has expired by the record's `last_seen`
            // (its creation time), so a live session is never overwritten.
            create: format!(
                "INSERT INTO {t} (\"key\", data, user_id, created_at, last_seen, \
                     idle_deadline, absolute_deadline, expires_at, persistent, device, \
                     idle_timeout_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (\"key\") DO UPDATE SET data = excluded.data, \
                     user_id = excluded.user_id, created_at = excluded.created_at, \
                     last_seen = excluded.last_seen, idle_deadline = excluded.idle_deadline, \
                     absolute_deadline = excluded.absolute_deadline, \
                     expires_at = excluded.expires_at, persistent = excluded.persistent, \
                     device = excluded.device, idle_timeout_ms = excluded.idle_timeout_ms \
                 WHERE {t}.expires_at <= excluded.last_seen"
            ),
            live_key_exists: format!(
                "SELECT EXISTS (SELECT 1 FROM {t} WHERE \"key\" = ? AND expires_at > ?)"
            ),
            delete: format!("DELETE FROM {t} WHERE \"key\" = ?"),
            list_user_sessions: format!(
                "SELECT \"key\", created_at, last_seen, expires_at, device FROM {t} \
                 WHERE user_id = ? AND expires_at > ? \
                     AND (created_at > ? OR (created_at = ? AND \"key\" > ?)) \
                 ORDER BY created_at, \"key\" LIMIT ?"
            ),
            // A user's live sessions for the per-user limit (`crate::limit::UserRow`), read
            // inside the sign-in's write transaction.
            user_sessions: format!(
                "SELECT \"key\", last_seen, expires_at FROM {t} \
                 WHERE user_id = ? AND expires_at > ?"
            ),
            scan: format!(
                "SELECT \"key\", user_id, created_at, last_seen, expires_at, device FROM {t} \
                 WHERE \"key\" > ? ORDER BY \"key\" LIMIT ?"
            ),
            delete_user_sessions: format!(
                "DELETE FROM {t} WHERE user_id = ? AND (? IS NULL OR \"key\" <> ?)"
            ),
            delete_expired: format!(
                "DELETE FROM {t} WHERE \"key\" IN (SELECT \"key\" FROM {t} \
                 WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)"
            ),
            count_live: format!("SELECT COUNT(*) FROM {t} WHERE expires_at > ?"),
            increment_batch: BatchStatements::new(&t),
            table: t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_use_the_quoted_table() {
        let statements = Statements::new(&TableNames::new(None, "web_sessions").unwrap());
        for sql in [
            &statements.load,
            &statements.create,
            &statements.delete_expired,
            &statements.list_user_sessions,
        ] {
            assert!(sql.contains("\"web_sessions\""), "{sql}");
            assert!(!sql.contains("sessile_sessions"), "{sql}");
        }
    }
}
