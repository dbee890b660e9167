//! How MySQL and MariaDB spell the JSON path updates of [`crate::delta`].
//!
//! A changed key is written in place as the quoted path label `$."key"`, the key as a JSON string
//! literal (`"` and `\` escaped), which both servers parse as the exact key. Keys with control
//! characters are rewritten from Rust instead (their escapes inside a path are passed through
//! verbatim by MariaDB, so whether they match depends on how the stored document spelled them):
//! the caller reads the data with `SELECT ... FOR UPDATE` and writes it back in one short
//! transaction.
//!
//! Values go in as `JSON_EXTRACT(?, '$')`, which both dialects treat as a JSON value.

use crate::delta::JsonDialect;

/// The JSON functions of MySQL and MariaDB; 100 keys per call keeps each argument list modest.
pub(crate) const MYSQL_JSON: JsonDialect = JsonDialect {
    json_remove: "JSON_REMOVE",
    json_set: "JSON_SET",
    json_value: "JSON_EXTRACT(?, '$')",
    keys_per_call: 100,
    least: "LEAST",
    key_column: "`key`",
    key_in_place_possible,
    json_path,
};

/// Whether `key` can be addressed by a quoted JSON path label (see the module docs).
pub(super) fn key_in_place_possible(key: &str) -> bool {
    !key.chars().any(char::is_control)
}

/// The JSON path of the top-level member `key`: `$."key"`, the label a JSON string literal.
pub(super) fn json_path(key: &str) -> String {
    // Serializing a string cannot fail; the fallback is never taken.
    let label = serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""));
    format!("$.{label}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::{Bind, DataSource, MAX_KEYS_IN_PLACE};
    use serde_json::json;
    use sessile::ChangeSet;

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
            assert!(!MYSQL_JSON.in_place_possible(&changes), "{key:?}");
        }
        for key in [
            "plain", "a\"b", "a\\nb", "with.dot", "a[0]", "$", "", "é 🎉", "'",
        ] {
            let mut changes = ChangeSet::default();
            changes.set(key, json!(1));
            assert!(MYSQL_JSON.in_place_possible(&changes), "{key:?}");
        }
    }

    #[test]
    fn binds_follow_the_placeholders() {
        let mut changes = ChangeSet::default();
        changes.set("a", json!(1));
        changes.remove("b");
        changes.user = Some(None);
        let assignments = MYSQL_JSON
            .assignments(&changes, DataSource::InPlace)
            .unwrap();
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
        let assignments = MYSQL_JSON
            .assignments(&changes, DataSource::InPlace)
            .unwrap();
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
        let assignments = MYSQL_JSON
            .assignments(&changes, DataSource::InPlace)
            .unwrap();
        assert_eq!(assignments.sql.matches("JSON_SET(").count(), 3);
        assert_eq!(assignments.binds.len(), 500);
        for index in 250..=MAX_KEYS_IN_PLACE {
            changes.set(format!("key{index}"), json!(index));
        }
        assert!(!MYSQL_JSON.in_place_possible(&changes));
    }

    #[test]
    fn an_empty_change_set_still_matches_the_row() {
        let assignments = MYSQL_JSON
            .assignments(&ChangeSet::default(), DataSource::InPlace)
            .unwrap();
        assert_eq!(assignments.sql, "`key` = `key`");
        assert!(assignments.binds.is_empty());
    }
}
