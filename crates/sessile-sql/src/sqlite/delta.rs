//! How SQLite spells the JSON path updates of [`crate::delta`].
//!
//! A changed key is written in place as the quoted path label `$."key"` unless it holds `"`, `\`
//! or a control character: SQLite's path syntax has no escape for `"` inside a quoted label, and
//! it interprets backslash escapes in labels, so a key such as `a"b` or `a\nb` cannot be
//! addressed reliably. Such change sets are rewritten from Rust inside one `BEGIN IMMEDIATE`
//! transaction, which holds the write lock from the read to the write.

use crate::delta::JsonDialect;

/// SQLite's JSON functions. Its default limit on a function's arguments is 127; one `json_set`
/// call takes the document plus two arguments per key, hence 60 keys per call.
pub(crate) const SQLITE_JSON: JsonDialect = JsonDialect {
    json_remove: "json_remove",
    json_set: "json_set",
    json_value: "json(?)",
    keys_per_call: 60,
    least: "MIN",
    key_column: "\"key\"",
    key_in_place_possible,
    json_path,
};

fn key_in_place_possible(key: &str) -> bool {
    !key.chars().any(|c| c == '"' || c == '\\' || c.is_control())
}

fn json_path(key: &str) -> String {
    format!("$.\"{key}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::DataSource;
    use serde_json::json;
    use sessile::ChangeSet;

    #[test]
    fn keys_that_sqlite_paths_cannot_quote_need_a_rewrite() {
        for key in ["a\"b", "a\\nb", "line\nbreak", "nul\0"] {
            let mut changes = ChangeSet::default();
            changes.set(key, json!(1));
            assert!(!SQLITE_JSON.in_place_possible(&changes), "{key:?}");
        }
        for key in ["plain", "with.dot", "a[0]", "$", "", "é 🎉", "'quote'"] {
            let mut changes = ChangeSet::default();
            changes.set(key, json!(1));
            assert!(SQLITE_JSON.in_place_possible(&changes), "{key:?}");
        }
    }

    #[test]
    fn binds_follow_the_placeholders() {
        let mut changes = ChangeSet::default();
        changes.set("a", json!(1));
        changes.remove("b");
        changes.user = Some(None);
        let assignments = SQLITE_JSON
            .assignments(&changes, DataSource::InPlace)
            .unwrap();
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
        let assignments = SQLITE_JSON
            .assignments(&changes, DataSource::InPlace)
            .unwrap();
        assert_eq!(assignments.sql.matches("json_set(").count(), 3);
        assert_eq!(assignments.binds.len(), 300);
    }

    #[test]
    fn an_empty_change_set_still_updates_nothing_but_matches_the_row() {
        let assignments = SQLITE_JSON
            .assignments(&ChangeSet::default(), DataSource::InPlace)
            .unwrap();
        assert_eq!(assignments.sql, "\"key\" = \"key\"");
        assert!(assignments.binds.is_empty());
    }
}
