//! The statements of a [`super::MySqlStore`], rendered once for its table. Times are Unix
//! milliseconds in `BIGINT` columns.

use crate::delta::OWN_IDLE_DEADLINE;
/// How often the increment statement binds the field's path.
pub(super) const INCREMENT_PATH_BINDS: usize = 6;

/// The statements of one table, formatted once.
#[derive(Debug)]
pub(super) struct Statements {
    pub(super) table: String,
    pub(super) quoted_table: String,
    pub(super) load: String,
    pub(super) create: String,
    pub(super) select_data_for_update: String,
    pub(super) lock_user_sessions: String,
    pub(super) live_key_exists: String,
    pub(super) evict: String,
    pub(super) delete_expired_key: String,
    pub(super) increment: String,
    pub(super) delete: String,
    pub(super) list_user_sessions: String,
    pub(super) scan: String,
    pub(super) delete_user_sessions: String,
    pub(super) expired_keys: String,
    pub(super) count_live: String,
    pub(super) forward_insert: String,
    pub(super) forwards_delete_lapsed: String,
}

impl Statements {
    pub(super) fn for_table(table: &str) -> Self {
        let t = quote_identifier(table);
        let f = quote_identifier(&forwards_table(table));
        // Each column of the update branch keeps its value unless the row has expired by the
        // new record's creation (`VALUES(last_seen)`). `expires_at` is assigned last because
        // later assignments see earlier ones, and every condition reads the old `expires_at`.
        // The first assignment also sets LAST_INSERT_ID to 1 (kept) or 2 (replaced): an
        // insert never evaluates it and reports 0, so "1 row, id 1" can only be a collision.
        let replace_if_expired = |column: &str| {
            format!("{column} = IF(expires_at <= VALUES(last_seen), VALUES({column}), {column})")
        };
        let create = format!(
            "INSERT INTO {t} (`key`, data, user_id, created_at, last_seen, idle_deadline, \
                 absolute_deadline, expires_at, persistent, device, idle_timeout_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE \
                 data = IF(LAST_INSERT_ID(IF(expires_at <= VALUES(last_seen), 2, 1)) = 2, \
                     VALUES(data), data), \
                 {}, {}, {}, {}, {}, {}, {}, {}, {}",
            replace_if_expired("user_id"),
            replace_if_expired("created_at"),
            replace_if_expired("last_seen"),
            replace_if_expired("idle_deadline"),
            replace_if_expired("absolute_deadline"),
            replace_if_expired("persistent"),
            replace_if_expired("device"),
            replace_if_expired("idle_timeout_ms"),
            replace_if_expired("expires_at"),
        );
        // The current value as a BIGINT: absent or JSON null count as 0, integers within i64
        // as themselves (checked in DECIMAL, since MariaDB calls any integer literal INTEGER),
        // anything else overflows on purpose (see [`MySqlStore`]). `(last_seen = last_seen)`
        // is 1 but depends on the row, so the server cannot fold the overflow into an error at
        // prepare time.
        let current = "CASE \
                 WHEN JSON_EXTRACT(data, ?) IS NULL OR JSON_TYPE(JSON_EXTRACT(data, ?)) = 'NULL' \
                     THEN 0 \
                 WHEN JSON_TYPE(JSON_EXTRACT(data, ?)) = 'INTEGER' \
                     AND CAST(JSON_EXTRACT(data, ?) AS DECIMAL(65, 0)) \
                         BETWEEN -9223372036854775808 AND 9223372036854775807 \
                     THEN CAST(JSON_EXTRACT(data, ?) AS SIGNED) \
                 ELSE 9223372036854775807 + (last_seen = last_seen) \
             END";
        // Data that is not an object (a corrupt row) matches no row, so the increment answers
        // `Gone` (the engine's "no session") instead of a value `JSON_SET` never wrote.
        let increment = format!(
            "UPDATE {t} SET \
                 data = JSON_SET(data, ?, CAST(LAST_INSERT_ID({current} + ?) AS SIGNED)), \
                 last_seen = ?, idle_deadline = LEAST({OWN_IDLE_DEADLINE}, absolute_deadline), \
                 expires_at = LEAST({OWN_IDLE_DEADLINE}, absolute_deadline) \
             WHERE `key` = ? AND expires_at > ? AND JSON_TYPE(data) = 'OBJECT'"
        );
        debug_assert_eq!(increment.matches("data, ?").count(), INCREMENT_PATH_BINDS);
        Self {
            table: table.to_owned(),
            // Expired rows too: `lookup` tells expired from missing in Rust, from this one read,
            // which also reads the forward pointer under the key when there is no row
            // (`codec::LookupRow`): one statement for a miss too.
            load: format!(
                "SELECT CAST(s.data AS CHAR) AS data, s.user_id, s.created_at, s.last_seen, \
                     s.idle_deadline, s.absolute_deadline, s.persistent, \
                     CAST(s.device AS CHAR) AS device, s.idle_timeout_ms, \
                     p.target AS forward_target, p.sealed_id AS forward_sealed_id, \
                     p.until AS forward_until \
                 FROM (SELECT ? AS `key`) AS probe \
                 LEFT JOIN {t} AS s ON s.`key` = probe.`key` \
                 LEFT JOIN {f} AS p ON p.`key` = probe.`key` AND s.`key` IS NULL"
            ),
            create,
            select_data_for_update: format!(
                "SELECT CAST(data AS CHAR) FROM {t} WHERE `key` = ? AND expires_at > ? FOR UPDATE"
            ),
            // The per-user limit (ARCHITECTURE.md, "The per-user limit in SQL"): a locking read
            // of the user's whole range of the `user_id` index, expired rows too (expiry is
            // decided in Rust), under REPEATABLE READ. Its next-key locks cover the gaps
            // around the user's entries, so they also hold up another transaction's insert of
            // a session of this user (a new one, or a rotation or update that signs one in)
            // until the sign-in commits. The index is forced: through `expires_at` the read
            // would lock rows of every user.
            lock_user_sessions: format!(
                "SELECT `key`, last_seen, expires_at FROM {t} FORCE INDEX (sessile_user_id) \
                 WHERE user_id = ? FOR UPDATE"
            ),
            live_key_exists: format!(
                "SELECT EXISTS (SELECT 1 FROM {t} WHERE `key` = ? AND expires_at > ?)"
            ),
            evict: format!("DELETE FROM {t} WHERE `key` = ? AND user_id = ?"),
            delete_expired_key: format!("DELETE FROM {t} WHERE `key` = ? AND expires_at <= ?"),
            increment,
            // The row and any forward pointer under the key, in one statement.
            delete: format!(
                "DELETE session, pointer FROM (SELECT ? AS `key`) AS target \
                 LEFT JOIN {t} AS session ON session.`key` = target.`key` \
                 LEFT JOIN {f} AS pointer ON pointer.`key` = target.`key`"
            ),
            forward_insert: format!(
                "INSERT INTO {f} (`key`, target, sealed_id, until) VALUES (?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE target = VALUES(target), \
                     sealed_id = VALUES(sealed_id), until = VALUES(until)"
            ),
            forwards_delete_lapsed: format!(
                "DELETE FROM {f} WHERE until <= ? ORDER BY until LIMIT ?"
            ),
            list_user_sessions: format!(
                "SELECT `key`, created_at, last_seen, expires_at, CAST(device AS CHAR) \
                 FROM {t} WHERE user_id = ? AND expires_at > ? \
                     AND (created_at > ? OR (created_at = ? AND `key` > ?)) \
                 ORDER BY created_at, `key` LIMIT ?"
            ),
            scan: format!(
                "SELECT `key`, user_id, created_at, last_seen, expires_at, CAST(device AS CHAR) \
                 FROM {t} WHERE `key` > ? ORDER BY `key` LIMIT ?"
            ),
            delete_user_sessions: format!(
                "DELETE FROM {t} WHERE user_id = ? AND (? IS NULL OR `key` <> ?)"
            ),
            expired_keys: format!(
                "SELECT `key` FROM {t} WHERE expires_at <= ? ORDER BY expires_at LIMIT ?"
            ),
            count_live: format!("SELECT COUNT(*) FROM {t} WHERE expires_at > ?"),
            quoted_table: t,
        }
    }
}

/// The table of forward pointers rotations leave (rotation grace) beside `table`.
pub(super) fn forwards_table(table: &str) -> String {
    format!("{table}_forwards")
}

/// A validated identifier in backquotes.
pub(super) fn quote_identifier(identifier: &str) -> String {
    format!("`{identifier}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_use_the_quoted_table() {
        let statements = Statements::for_table("my_sessions");
        for sql in [
            &statements.load,
            &statements.create,
            &statements.increment,
            &statements.expired_keys,
        ] {
            assert!(sql.contains("`my_sessions`"), "{sql}");
            assert!(!sql.contains("sessile_sessions"), "{sql}");
        }
    }
}
