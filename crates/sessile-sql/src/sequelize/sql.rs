//! The row statements every dialect runs on the session tables, written once on
//! [`sqlx::QueryBuilder`] (which writes each database's placeholders, `$1` or `?`): the
//! dialects differ only in how they quote names, bind text and numbers, pass the Express
//! table's dates and read its `expires` column (a [`Dialect`]).

use sessile::Record;
use sqlx::query::{Query, QueryAs};
use sqlx::{Database, FromRow, QueryBuilder};

use super::table::{FieldValue, Layout, Table};
use super::Failure;

/// What a dialect's row statements differ in.
pub(super) trait Dialect {
    /// The database.
    type Db: Database;
    /// The identifier quote.
    const QUOTE: char;
    /// What follows a `SELECT` that holds the row until the transaction ends.
    const LOCK: &'static str;
    /// The Express table's `expires` column as its `SELECT` reads it.
    const EXPRESS_EXPIRES: &'static str;

    /// Binds a text parameter.
    fn push_text(sql: &mut Builder<Self::Db>, text: &str);

    /// Binds an integer parameter.
    fn push_int(sql: &mut Builder<Self::Db>, int: i64);

    /// Binds a date of the Express table, `ms` milliseconds since the epoch, read as the
    /// column's type.
    fn push_date(sql: &mut Builder<Self::Db>, ms: i64) -> Result<(), Failure>;
}

/// A statement being written, its parameters owned.
pub(super) type Builder<DB> = QueryBuilder<'static, DB>;

/// SQL text and its parameters.
pub(super) struct Statement<DB: Database>(Builder<DB>);

impl<DB: Database> Statement<DB> {
    /// The statement as a query with its parameters bound.
    pub fn query(&mut self) -> Query<'_, DB, <DB as Database>::Arguments<'static>> {
        self.0.build()
    }

    /// The statement as a query of `O` rows with its parameters bound.
    pub fn query_as<'q, O>(&'q mut self) -> QueryAs<'q, DB, O, <DB as Database>::Arguments<'static>>
    where
        O: FromRow<'q, DB::Row>,
    {
        self.0.build_query_as()
    }
}

/// `name` quoted as the dialect quotes identifiers.
fn q<D: Dialect>(name: &str) -> String {
    format!("{quote}{name}{quote}", quote = D::QUOTE)
}

/// A statement starting with `sql`.
fn start<D: Dialect>(sql: String) -> Builder<D::Db> {
    QueryBuilder::new(sql)
}

/// Koa's `expires`: whole Unix seconds.
fn push_seconds<D: Dialect>(sql: &mut Builder<D::Db>, ms: i64) {
    D::push_int(sql, ms.div_euclid(1000));
}

/// Binds an app column's value (`NULL` spelled out: a typed `NULL` parameter is refused by
/// PostgreSQL for a column of another type).
fn push_field<D: Dialect>(sql: &mut Builder<D::Db>, value: &FieldValue) {
    match value {
        FieldValue::Text(text) => D::push_text(sql, text),
        FieldValue::Integer(int) => D::push_int(sql, *int),
        FieldValue::Null => {
            sql.push("NULL");
        }
    }
}

/// The app's columns of a write: the `extendDefaultFields` columns from `record`, and
/// `updatedAt` (plus `createdAt` on insert) where the table keeps timestamps.
fn app_columns(table: &Table, record: &Record, insert: bool) -> Vec<(String, Column)> {
    let mut columns: Vec<(String, Column)> = table
        .extra
        .iter()
        .map(|column| (column.name.clone(), Column::Field(column.value(record))))
        .collect();
    if table.timestamps && table.layout == Layout::Koa {
        if insert {
            columns.push(("createdAt".to_owned(), Column::Now));
        }
        columns.push(("updatedAt".to_owned(), Column::Now));
    }
    columns
}

/// An app column's value in a write.
enum Column {
    Field(FieldValue),
    /// The time of the write (Sequelize's `createdAt`/`updatedAt`).
    Now,
}

fn push_column<D: Dialect>(
    sql: &mut Builder<D::Db>,
    column: &Column,
    now_ms: i64,
) -> Result<(), Failure> {
    match column {
        Column::Field(value) => push_field::<D>(sql, value),
        Column::Now => D::push_date(sql, now_ms)?,
    }
    Ok(())
}

/// Selects nothing, and fails unless the table has the layout's columns (and the app's).
pub(super) fn check<D: Dialect>(table: &Table) -> Statement<D::Db> {
    let mut columns = vec![q::<D>(table.id_column()), q::<D>("data"), q::<D>("expires")];
    if table.has_timestamps() {
        columns.push(q::<D>("createdAt"));
        columns.push(q::<D>("updatedAt"));
    }
    columns.extend(table.extra.iter().map(|column| q::<D>(&column.name)));
    Statement(start::<D>(format!(
        "SELECT {} FROM {} WHERE 1 = 0",
        columns.join(", "),
        q::<D>(&table.name),
    )))
}

/// The ids of the rows whose user column holds `user` (live or not), or `None` when the table
/// keeps no user column.
pub(super) fn user_rows<D: Dialect>(table: &Table, user: &str) -> Option<Statement<D::Db>> {
    let column = table.user_column()?;
    let mut sql = start::<D>(format!(
        "SELECT {} FROM {} WHERE {} = ",
        q::<D>(table.id_column()),
        q::<D>(&table.name),
        q::<D>(&column.name),
    ));
    push_field::<D>(&mut sql, &column.kind.of_text(user));
    Some(Statement(sql))
}

/// Deletes the rows whose user column holds `user`, but `keep`; `None` without a user column.
pub(super) fn delete_user_rows<D: Dialect>(
    table: &Table,
    user: &str,
    keep: Option<&str>,
) -> Option<Statement<D::Db>> {
    let column = table.user_column()?;
    let mut sql = start::<D>(format!(
        "DELETE FROM {} WHERE {} = ",
        q::<D>(&table.name),
        q::<D>(&column.name),
    ));
    push_field::<D>(&mut sql, &column.kind.of_text(user));
    if let Some(keep) = keep {
        sql.push(format!(" AND {} <> ", q::<D>(table.id_column())));
        D::push_text(&mut sql, keep);
    }
    Some(Statement(sql))
}

/// Up to `limit` row ids after `after`, in id order: one page of a scan (the id is the
/// table's primary key, so each page is an index range).
pub(super) fn page_ids<D: Dialect>(
    table: &Table,
    after: Option<&str>,
    limit: u32,
) -> Statement<D::Db> {
    let id = q::<D>(table.id_column());
    let mut sql = start::<D>(format!("SELECT {id} FROM {}", q::<D>(&table.name)));
    if let Some(after) = after {
        sql.push(format!(" WHERE {id} > "));
        D::push_text(&mut sql, after);
    }
    sql.push(format!(" ORDER BY {id} LIMIT "));
    D::push_int(&mut sql, i64::from(limit));
    Statement(sql)
}

/// `data` and `expires` of the row `id`; held until the transaction ends when `lock`.
pub(super) fn select<D: Dialect>(table: &Table, id: &str, lock: bool) -> Statement<D::Db> {
    let expires = match table.layout {
        Layout::Koa => q::<D>("expires"),
        Layout::Express => D::EXPRESS_EXPIRES.to_owned(),
    };
    let mut sql = start::<D>(format!(
        "SELECT {}, {expires} FROM {} WHERE {} = ",
        q::<D>("data"),
        q::<D>(&table.name),
        q::<D>(table.id_column()),
    ));
    D::push_text(&mut sql, id);
    if lock {
        sql.push(D::LOCK);
    }
    Statement(sql)
}

/// A new row `id` for `record`.
pub(super) fn insert<D: Dialect>(
    table: &Table,
    id: &str,
    record: &Record,
    expires_ms: i64,
    now_ms: i64,
) -> Result<Statement<D::Db>, Failure> {
    let name = q::<D>(&table.name);
    let data = table.json.encode(record);
    let app = app_columns(table, record, true);
    let app_names: String = app
        .iter()
        .map(|(column, _)| format!(", {}", q::<D>(column)))
        .collect();
    let mut sql = match table.layout {
        Layout::Koa => {
            let mut sql = start::<D>(format!(
                "INSERT INTO {name} ({}, {}, {}{app_names}) VALUES (",
                q::<D>("id"),
                q::<D>("data"),
                q::<D>("expires"),
            ));
            D::push_text(&mut sql, id);
            sql.push(", ");
            D::push_text(&mut sql, &data);
            sql.push(", ");
            push_seconds::<D>(&mut sql, expires_ms);
            sql
        }
        Layout::Express => {
            let mut sql = start::<D>(format!(
                "INSERT INTO {name} ({}, {}, {}, {}, {}{app_names}) VALUES (",
                q::<D>("sid"),
                q::<D>("expires"),
                q::<D>("data"),
                q::<D>("createdAt"),
                q::<D>("updatedAt"),
            ));
            D::push_text(&mut sql, id);
            sql.push(", ");
            D::push_date(&mut sql, expires_ms)?;
            sql.push(", ");
            D::push_text(&mut sql, &data);
            sql.push(", ");
            D::push_date(&mut sql, now_ms)?;
            sql.push(", ");
            D::push_date(&mut sql, now_ms)?;
            sql
        }
    };
    for (_, value) in &app {
        sql.push(", ");
        push_column::<D>(&mut sql, value, now_ms)?;
    }
    sql.push(")");
    Ok(Statement(sql))
}

/// The row `from` rewritten as `to` with `record`'s `data` (written over the row's
/// `previous` document, whose key order it keeps) and `expires` (and `updatedAt`, and the
/// app's columns, as connect-session-sequelize's `set` rewrites them).
pub(super) fn rewrite<D: Dialect>(
    table: &Table,
    (from, to): (&str, &str),
    previous: Option<&str>,
    record: &Record,
    expires_ms: i64,
    now_ms: i64,
) -> Result<Statement<D::Db>, Failure> {
    let data = &table.json.encode_over(previous, record);
    let id = q::<D>(table.id_column());
    let mut sql = start::<D>(format!("UPDATE {} SET {id} = ", q::<D>(&table.name)));
    D::push_text(&mut sql, to);
    for (column, value) in app_columns(table, record, false) {
        sql.push(format!(", {} = ", q::<D>(&column)));
        push_column::<D>(&mut sql, &value, now_ms)?;
    }
    match table.layout {
        Layout::Koa => {
            sql.push(format!(", {} = ", q::<D>("data")));
            D::push_text(&mut sql, data);
            sql.push(format!(", {} = ", q::<D>("expires")));
            push_seconds::<D>(&mut sql, expires_ms);
        }
        Layout::Express => {
            sql.push(format!(", {} = ", q::<D>("expires")));
            D::push_date(&mut sql, expires_ms)?;
            sql.push(format!(", {} = ", q::<D>("data")));
            D::push_text(&mut sql, data);
            sql.push(format!(", {} = ", q::<D>("updatedAt")));
            D::push_date(&mut sql, now_ms)?;
        }
    }
    sql.push(format!(" WHERE {id} = "));
    D::push_text(&mut sql, from);
    Ok(Statement(sql))
}

/// Deletes the row `id`.
pub(super) fn delete<D: Dialect>(table: &Table, id: &str) -> Statement<D::Db> {
    let mut sql = start::<D>(format!(
        "DELETE FROM {} WHERE {} = ",
        q::<D>(&table.name),
        q::<D>(table.id_column()),
    ));
    D::push_text(&mut sql, id);
    Statement(sql)
}
