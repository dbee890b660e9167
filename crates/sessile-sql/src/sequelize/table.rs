//! What the two Sequelize tables look like and how a row becomes a [`Record`]: the parts that do
//! not depend on the SQL dialect.

use sessile::{Record, StoreError, StoreKey, Timestamp};

use crate::names::validate_identifier;
use sessile_node::layout;
use sessile_node::record_json::NodeJson;

/// Which package's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// koa-generic-session-sequelize: `id VARCHAR(100)` (prefix + sid), `data TEXT`,
    /// `expires BIGINT` in Unix seconds, index `<table>_expires`.
    Koa,
    /// connect-session-sequelize: `sid VARCHAR(36)`, `expires DATE`, `data TEXT`, `createdAt`,
    /// `updatedAt`.
    Express,
}

/// One stored row, as every dialect reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    /// The `data` column.
    pub data: Option<String>,
    /// The `expires` column in milliseconds since the epoch (Koa: the seconds times 1000).
    pub expires_ms: Option<i64>,
}

impl Row {
    /// A row as read with `expires` as an integer: Unix seconds in the Koa table (turned into
    /// milliseconds), milliseconds in the Express table.
    pub fn new(layout: Layout, data: Option<String>, expires: Option<i64>) -> Self {
        let expires_ms = match layout {
            Layout::Koa => expires.and_then(|seconds| seconds.checked_mul(1000)),
            Layout::Express => expires,
        };
        Row { data, expires_ms }
    }
}

/// A validated table: its layout, name, row-id prefix and document shape, and the app's own
/// columns.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub layout: Layout,
    pub name: String,
    pub prefix: String,
    pub json: NodeJson,
    /// koa-generic-session-sequelize's `timestamps: true`: `createdAt` and `updatedAt` columns
    /// (connect-session-sequelize's table always has them).
    pub timestamps: bool,
    /// connect-session-sequelize's `extendDefaultFields`: columns filled from the session.
    pub extra: Vec<ExtraColumn>,
}

/// A column of the app's own, filled from the session on every write, as
/// connect-session-sequelize's `extendDefaultFields` fills it on every `set`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraColumn {
    pub(crate) name: String,
    pub(crate) source: FieldSource,
    pub(crate) kind: ColumnKind,
}

/// Where an [`ExtraColumn`]'s value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldSource {
    /// The signed-in user ([`Record::user`]); the column is the table's per-user index.
    User,
    /// A top-level key of the session data.
    Data(String),
}

/// How a column of the app's own stores its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColumnKind {
    /// A string column (`STRING`, `TEXT`, `UUID` in Sequelize).
    Text,
    /// An integer column (`INTEGER`, `BIGINT`): the value must be an integer (a user id such
    /// as `"42"` is stored as 42); anything else is stored as `NULL`.
    Integer,
}

/// A value bound into an [`ExtraColumn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldValue {
    Text(String),
    Integer(i64),
    Null,
}

impl ColumnKind {
    /// `text` as this column stores it.
    pub(crate) fn of_text(self, text: &str) -> FieldValue {
        match self {
            ColumnKind::Text => FieldValue::Text(text.to_owned()),
            ColumnKind::Integer => text.parse().map_or(FieldValue::Null, FieldValue::Integer),
        }
    }
}

impl ExtraColumn {
    /// The column's value for `record`.
    pub(crate) fn value(&self, record: &Record) -> FieldValue {
        match &self.source {
            FieldSource::User => record
                .user
                .as_deref()
                .map_or(FieldValue::Null, |user| self.kind.of_text(user)),
            FieldSource::Data(key) => match record.data.get(key) {
                Some(serde_json::Value::String(text)) => self.kind.of_text(text),
                Some(serde_json::Value::Number(number)) => match (self.kind, number.as_i64()) {
                    (ColumnKind::Integer, Some(int)) => FieldValue::Integer(int),
                    (ColumnKind::Integer, None) => FieldValue::Null,
                    (ColumnKind::Text, _) => FieldValue::Text(number.to_string()),
                },
                Some(serde_json::Value::Bool(flag)) if self.kind == ColumnKind::Text => {
                    FieldValue::Text(flag.to_string())
                }
                _ => FieldValue::Null,
            },
        }
    }
}

impl Table {
    /// The primary-key column.
    pub fn id_column(&self) -> &'static str {
        match self.layout {
            Layout::Koa => "id",
            Layout::Express => "sid",
        }
    }

    /// Whether rows carry `createdAt` and `updatedAt`.
    pub fn has_timestamps(&self) -> bool {
        self.timestamps || self.layout == Layout::Express
    }

    /// The column that holds the signed-in user, if the app has one: the per-user index.
    pub fn user_column(&self) -> Option<&ExtraColumn> {
        self.extra
            .iter()
            .find(|column| column.source == FieldSource::User)
    }

    /// The store key of the row `id` (the prefix stripped), if it is a Node id.
    pub fn key_of_row(&self, id: &str) -> Option<StoreKey> {
        let plain = id.strip_prefix(self.prefix.as_str())?;
        sessile::SessionId::foreign(plain).map(|id| id.store_key())
    }

    /// The name Sequelize gives the `expires` index: `underscore(<table>_expires)`.
    pub fn index_name(&self) -> String {
        sequelize_underscore(&format!("{}_expires", self.name))
    }

    /// The row id for `key`: the Node id (with the Koa prefix). Sessile's own ids have no plain
    /// form and cannot live in these tables. The column's length (`VARCHAR(36)` for Express,
    /// `VARCHAR(100)` for Koa) is the database's to enforce: PostgreSQL and MySQL refuse longer
    /// ids, SQLite stores them, as it does for the Node app.
    pub fn row_id(&self, key: &StoreKey) -> Result<String, StoreError> {
        let plain = key.plain().ok_or_else(|| {
            StoreError::Backend(
                "a Sequelize session table is addressed by the Node session id: use a Node id \
                 codec (sessile_node::ids) with SessionManager::new"
                    .into(),
            )
        })?;
        Ok(format!("{}{plain}", self.prefix))
    }

    /// The value written to `expires` for a record, in milliseconds: Koa keeps whole seconds
    /// (`floor(ms / 1000)`, as the package computes it), Express the deadline itself (MySQL's
    /// `DATETIME` drops the milliseconds; the dialect rounds down to the second there).
    pub fn expires_ms(&self, record: &Record) -> i64 {
        let at = record.expires_at().as_millis();
        match self.layout {
            Layout::Koa => at.div_euclid(1000) * 1000,
            Layout::Express => at,
        }
    }

    /// The row's record if it is live at `now`; `None` for no session (no data, expired, no
    /// expiry where the package needs one); [`StoreError::Corrupt`] for a live row whose
    /// document cannot be read.
    ///
    /// The `expires` column decides, as it does for the Node package: koa-generic-session-sequelize
    /// reads only rows with `expires > floor(now / 1000)`, and connect-session-sequelize's cleanup
    /// deletes rows by `expires` (express-session `touch`es only that column, so the document's
    /// `cookie.expires` can be older). An Express row without `expires` falls back on the
    /// document's `cookie.expires`.
    pub fn live(&self, row: &Row, now: Timestamp) -> Result<Option<Record>, StoreError> {
        let Some((text, deadline)) = self.parts(row) else {
            return Ok(None);
        };
        // An expired row is no session, readable or not: checked before decoding.
        if deadline.is_some_and(|deadline| now >= deadline) {
            return Ok(None);
        }
        let record = self.decode(text, deadline)?;
        Ok(record.is_live(now).then_some(record))
    }

    /// The session a row holds, live or expired (for a scan); `None` for a row the package
    /// reads as no session.
    pub fn record(&self, row: &Row) -> Result<Option<Record>, StoreError> {
        match self.parts(row) {
            Some((text, deadline)) => self.decode(text, deadline).map(Some),
            None => Ok(None),
        }
    }

    /// The document and the `expires` deadline of a row that holds a session.
    fn parts<'r>(&self, row: &'r Row) -> Option<(&'r str, Option<Timestamp>)> {
        let text = row.data.as_deref()?;
        if self.layout == Layout::Koa && text.is_empty() {
            // The package's `get` treats an empty `data` as no session.
            return None;
        }
        let deadline = match (self.layout, row.expires_ms) {
            (_, Some(ms)) => Some(Timestamp::from_millis(ms)),
            (Layout::Koa, None) => return None,
            (Layout::Express, None) => None,
        };
        Some((text, deadline))
    }

    fn decode(&self, text: &str, deadline: Option<Timestamp>) -> Result<Record, StoreError> {
        let mut record = self.json.decode(text, deadline)?;
        if let Some(deadline) = deadline {
            layout::stamp_deadline(&self.json, &mut record, deadline);
        }
        Ok(record)
    }

    /// Whether a row blocks a new session under its id: live, or live by its `expires` but
    /// unreadable.
    pub fn occupied(&self, row: &Row, now: Timestamp) -> bool {
        match self.live(row, now) {
            Ok(record) => record.is_some(),
            Err(_) => true,
        }
    }
}

/// Sequelize's `Utils.underscore` (inflection's `underscore`): `_` before every capital, a
/// leading `_` dropped, lower-cased. `Sessions_expires` → `sessions_expires`.
pub(crate) fn sequelize_underscore(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c);
    }
    let out = out.strip_prefix('_').unwrap_or(&out);
    out.to_ascii_lowercase()
}

/// Table names are spliced into SQL, quoted: plain identifiers (the rule of every sessile-sql
/// table), short enough that the `expires` index name Sequelize derives from them fits
/// PostgreSQL's 63 bytes (MySQL refuses more than 64).
pub(crate) fn validate_table_name(name: &str) -> Result<(), crate::Error> {
    validate_identifier("table", name, 63)?;
    if sequelize_underscore(&format!("{name}_expires")).len() > 63 {
        return Err(crate::Error::InvalidName {
            what: "table",
            name: name.to_owned(),
            reason: "too long for the name of its `expires` index (63 characters)",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessile::SessionId;
    use sessile_node::record_json::NodeShape;
    use std::time::Duration;

    fn table(layout: Layout) -> Table {
        let shape = match layout {
            Layout::Koa => NodeShape::GenericSession,
            Layout::Express => NodeShape::Express,
        };
        Table {
            layout,
            name: "Sessions".into(),
            prefix: if layout == Layout::Koa {
                "koa:sess:".into()
            } else {
                String::new()
            },
            json: NodeJson::new(shape, Duration::from_secs(3600)),
            timestamps: false,
            extra: Vec::new(),
        }
    }

    #[test]
    fn index_names_follow_sequelize() {
        // Names seen from Sequelize 6.37.8's sync().
        assert_eq!(sequelize_underscore("Sessions_expires"), "sessions_expires");
        assert_eq!(
            sequelize_underscore("ddl_Koa_T1_expires"),
            "ddl__koa__t1_expires"
        );
        assert_eq!(table(Layout::Koa).index_name(), "sessions_expires");
    }

    #[test]
    fn table_names_are_plain_identifiers() {
        assert!(validate_table_name("Sessions").is_ok());
        assert!(validate_table_name("_x1").is_ok());
        for bad in ["", "1a", "a-b", "a b", "a\"b", "a`b", &"a".repeat(60)] {
            assert!(validate_table_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn koa_rows_are_live_while_expires_is_after_now_in_seconds() {
        let koa = table(Layout::Koa);
        let row = Row {
            data: Some(r#"{"cookie":{"httpOnly":true,"path":"/","overwrite":true,"signed":true,"maxAge":3600000},"user":"alice"}"#.into()),
            expires_ms: Some(1_700_003_600_000),
        };
        let live = koa
            .live(&row, Timestamp::from_millis(1_700_003_599_999))
            .unwrap();
        assert_eq!(live.unwrap().user.as_deref(), Some("alice"));
        assert!(koa
            .live(&row, Timestamp::from_millis(1_700_003_600_000))
            .unwrap()
            .is_none());
        for dead in [
            Row {
                data: None,
                ..row.clone()
            },
            Row {
                data: Some(String::new()),
                ..row.clone()
            },
            Row {
                expires_ms: None,
                ..row.clone()
            },
        ] {
            assert!(koa
                .live(&dead, Timestamp::from_millis(0))
                .unwrap()
                .is_none());
        }
        let corrupt = Row {
            data: Some("{".into()),
            ..row
        };
        assert!(matches!(
            koa.live(&corrupt, Timestamp::from_millis(0)),
            Err(StoreError::Corrupt(_))
        ));
        assert!(koa.occupied(&corrupt, Timestamp::from_millis(0)));
        assert!(!koa.occupied(&corrupt, Timestamp::from_millis(1_700_003_600_000)));
    }

    #[test]
    fn express_rows_follow_the_expires_column_over_the_document() {
        let express = table(Layout::Express);
        // Touched by express-session: the column moved on, the document's cookie did not.
        let row = Row {
            data: Some(r#"{"cookie":{"originalMaxAge":3600000,"expires":"2023-11-14T23:13:20.000Z","httpOnly":true,"path":"/"},"user":"alice"}"#.into()),
            expires_ms: Some(1_700_003_660_000),
        };
        let record = express
            .live(&row, Timestamp::from_millis(1_700_003_630_000))
            .unwrap()
            .expect("live by the column");
        assert_eq!(record.idle_deadline.as_millis(), 1_700_003_660_000);
        assert!(express
            .live(&row, Timestamp::from_millis(1_700_003_660_000))
            .unwrap()
            .is_none());
        // No column value: the document's cookie.expires decides.
        let no_column = Row {
            expires_ms: None,
            ..row
        };
        assert!(express
            .live(&no_column, Timestamp::from_millis(1_700_003_599_999))
            .unwrap()
            .is_some());
        assert!(express
            .live(&no_column, Timestamp::from_millis(1_700_003_600_000))
            .unwrap()
            .is_none());
    }

    #[test]
    fn row_ids_carry_the_prefix() {
        let koa = table(Layout::Koa);
        let key = SessionId::foreign("abc").unwrap().store_key();
        assert_eq!(koa.row_id(&key).unwrap(), "koa:sess:abc");
        assert!(matches!(
            koa.row_id(&SessionId::generate().store_key()),
            Err(StoreError::Backend(_))
        ));
    }
}
