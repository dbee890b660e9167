//! Table and schema names: spliced into SQL text (identifiers cannot be bound as parameters), so
//! every dialect accepts only plain identifiers, checked once when a store is configured.

use crate::error::Error;

/// Checks that `name` is a plain identifier (an ASCII letter or underscore, then ASCII
/// letters, digits and underscores) of at most `max_len` bytes, so it can be quoted without
/// escaping and names derived from it fit the database's identifier limit. `what` says which
/// name it is ("table", "schema") in the error.
pub(crate) fn validate_identifier(
    what: &'static str,
    name: &str,
    max_len: usize,
) -> Result<(), Error> {
    let invalid = |reason| {
        Err(Error::InvalidName {
            what,
            name: name.to_owned(),
            reason,
        })
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return invalid("it is empty"),
        Some(first) if !(first.is_ascii_alphabetic() || first == '_') => {
            return invalid("it must start with an ASCII letter or an underscore")
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return invalid("only ASCII letters, digits and underscores are allowed");
    }
    if name.len() > max_len {
        return invalid("it is too long for the database's identifiers");
    }
    Ok(())
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// PostgreSQL truncates identifiers to 63 bytes. The longest name derived from the table name
/// is the versions table, `<table>_schema_versions` (16 more bytes). SQLite has no limit, but
/// keeps PostgreSQL's, so one name works on both.
const MAX_TABLE_NAME: usize = 63 - VERSIONS_SUFFIX.len();
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const MAX_SCHEMA_NAME: usize = 63;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const VERSIONS_SUFFIX: &str = "_schema_versions";
/// The forward pointers' table, `<table>_forwards`: shorter than the versions table's suffix,
/// so every table name that fits fits here too.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const FORWARDS_SUFFIX: &str = "_forwards";

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// Where the sessions live on PostgreSQL and SQLite (both quote with `"`): a table, on
/// PostgreSQL optionally in a named schema (otherwise the first schema of the connection's
/// `search_path`, normally `public`). Validated once, rendered as quoted identifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableNames {
    schema: Option<String>,
    table: String,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl TableNames {
    pub(crate) fn new(schema: Option<&str>, table: &str) -> Result<Self, Error> {
        if let Some(schema) = schema {
            validate("schema", schema, MAX_SCHEMA_NAME)?;
        }
        validate("table", table, MAX_TABLE_NAME)?;
        Ok(Self {
            schema: schema.map(str::to_owned),
            table: table.to_owned(),
        })
    }

    /// The schema name, if one was configured.
    #[cfg(feature = "postgres")]
    pub(crate) fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The table name, unqualified and unquoted.
    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    /// The sessions table, quoted and qualified: `"schema"."table"` or `"table"`.
    pub(crate) fn sessions(&self) -> String {
        self.qualified(&self.table)
    }

    /// The table recording applied schema versions, beside the sessions table.
    pub(crate) fn versions(&self) -> String {
        self.qualified(&format!("{}{VERSIONS_SUFFIX}", self.table))
    }

    /// The table of forward pointers rotations leave (rotation grace), beside the sessions
    /// table.
    pub(crate) fn forwards(&self) -> String {
        self.qualified(&format!("{}{FORWARDS_SUFFIX}", self.table))
    }

    /// The quoted, unqualified name of an index on the sessions table (PostgreSQL creates an
    /// index in its table's schema).
    pub(crate) fn index(&self, column: &str) -> String {
        quote(&format!("{}_{column}", self.table))
    }

    fn qualified(&self, name: &str) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quote(schema), quote(name)),
            None => quote(name),
        }
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn quote(identifier: &str) -> String {
    // Validated identifiers never contain `"`, so no escaping is needed.
    format!("\"{identifier}\"")
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn validate(what: &'static str, name: &str, max_len: usize) -> Result<(), Error> {
    validate_identifier(what, name, max_len)?;
    if name.starts_with("pg_") && what == "schema" {
        return Err(Error::InvalidName {
            what,
            name: name.to_owned(),
            reason: "schema names starting with pg_ are reserved",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[test]
    fn plain_identifiers_are_quoted_and_qualified() {
        let names = TableNames::new(Some("Auth"), "web_sessions").unwrap();
        assert_eq!(names.sessions(), "\"Auth\".\"web_sessions\"");
        assert_eq!(
            names.versions(),
            "\"Auth\".\"web_sessions_schema_versions\""
        );
        assert_eq!(names.index("expires_at"), "\"web_sessions_expires_at\"");
        let unqualified = TableNames::new(None, "sessile_sessions").unwrap();
        assert_eq!(unqualified.sessions(), "\"sessile_sessions\"");
    }

    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[test]
    fn anything_but_a_plain_identifier_is_refused() {
        let too_long = "t".repeat(MAX_TABLE_NAME + 1);
        for table in [
            "",
            "1sessions",
            "sessions\"; DROP TABLE users; --",
            "with space",
            "dotted.name",
            "ünicode",
            too_long.as_str(),
        ] {
            assert!(
                matches!(
                    TableNames::new(None, table),
                    Err(Error::InvalidName { what: "table", .. })
                ),
                "{table:?} must be refused"
            );
        }
        assert!(matches!(
            TableNames::new(Some("pg_catalog"), "sessions"),
            Err(Error::InvalidName { what: "schema", .. })
        ));
        assert!(TableNames::new(None, &"t".repeat(MAX_TABLE_NAME)).is_ok());
    }

    #[test]
    fn only_plain_identifiers_within_the_limit_pass() {
        for good in ["sessions", "app_sess_2", "_x", "Sessions", &"t".repeat(10)] {
            assert!(validate_identifier("table", good, 10).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "1abc",
            "a-b",
            "a`b",
            "a\"b",
            "a b",
            "dotted.name",
            "ä",
            "x;DROP",
            &"t".repeat(11),
        ] {
            assert!(
                matches!(
                    validate_identifier("table", bad, 10),
                    Err(Error::InvalidName { what: "table", .. })
                ),
                "{bad:?}"
            );
        }
    }
}
