//! The row statements every dialect runs on the session tables, written once: the dialects
//! differ only in how they quote names, mark parameters, pass the Express table's dates and read
//! its `expires` column (a [`Dialect`]).

use std::marker::PhantomData;

use sqlx::query::{Query, QueryAs};
use sqlx::{Database, Encode, FromRow, Type};

use super::table::{Layout, Table};
use super::Failure;

/// A parameter's value.
pub(super) enum Param {
    Text(String),
    Int(i64),
}

/// What a dialect's row statements differ in.
pub(super) trait Dialect {
    /// The identifier quote.
    const QUOTE: char;
    /// Numbered parameters (`$1`, `$2`, ...) rather than `?`.
    const NUMBERED: bool;
    /// What follows a `SELECT` that holds the row until the transaction ends.
    const LOCK: &'static str;
    /// The Express table's `expires` column as its `SELECT` reads it.
    const EXPRESS_EXPIRES: &'static str;

    /// The value passed for a date of the Express table, `ms` milliseconds since the epoch.
    fn date(ms: i64) -> Result<Param, Failure>;

    /// The SQL that reads a date parameter (at `placeholder`) as the column's type.
    fn date_sql(placeholder: String) -> String {
        placeholder
    }
}

/// SQL text and its parameters, in order.
pub(super) struct Statement {
    sql: String,
    params: Vec<Param>,
}

impl Statement {
    /// The statement as a query with its parameters bound.
    pub fn query<'q, DB>(&'q self) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
    where
        DB: Database,
        &'q str: Encode<'q, DB> + Type<DB>,
        i64: Encode<'q, DB> + Type<DB>,
    {
        self.params
            .iter()
            .fold(sqlx::query(&self.sql), |query, param| match param {
                Param::Text(text) => query.bind(text.as_str()),
                Param::Int(int) => query.bind(*int),
            })
    }

    /// The statement as a query of `O` rows with its parameters bound.
    pub fn query_as<'q, DB, O>(&'q self) -> QueryAs<'q, DB, O, <DB as Database>::Arguments<'q>>
    where
        DB: Database,
        O: for<'r> FromRow<'r, DB::Row>,
        &'q str: Encode<'q, DB> + Type<DB>,
        i64: Encode<'q, DB> + Type<DB>,
    {
        self.params
            .iter()
            .fold(sqlx::query_as(&self.sql), |query, param| match param {
                Param::Text(text) => query.bind(text.as_str()),
                Param::Int(int) => query.bind(*int),
            })
    }
}

/// Collects a statement's parameters and writes their placeholders.
struct Builder<D> {
    params: Vec<Param>,
    dialect: PhantomData<D>,
}

impl<D: Dialect> Builder<D> {
    fn new() -> Self {
        Builder {
            params: Vec::new(),
            dialect: PhantomData,
        }
    }

    fn param(&mut self, value: Param) -> String {
        self.params.push(value);
        if D::NUMBERED {
            format!("${}", self.params.len())
        } else {
            "?".to_owned()
        }
    }

    fn text(&mut self, text: &str) -> String {
        self.param(Param::Text(text.to_owned()))
    }

    /// Koa's `expires`: whole Unix seconds.
    fn seconds(&mut self, ms: i64) -> String {
        self.param(Param::Int(ms.div_euclid(1000)))
    }

    fn date(&mut self, ms: i64) -> Result<String, Failure> {
        let value = D::date(ms)?;
        Ok(D::date_sql(self.param(value)))
    }

    fn finish(self, sql: String) -> Statement {
        Statement {
            sql,
            params: self.params,
        }
    }
}

/// `name` quoted as the dialect quotes identifiers.
fn q<D: Dialect>(name: &str) -> String {
    format!("{quote}{name}{quote}", quote = D::QUOTE)
}

/// Selects nothing, and fails unless the table has the layout's columns.
pub(super) fn check<D: Dialect>(table: &Table) -> Statement {
    let sql = format!(
        "SELECT {}, {}, {} FROM {} WHERE 1 = 0",
        q::<D>(table.id_column()),
        q::<D>("data"),
        q::<D>("expires"),
        q::<D>(&table.name),
    );
    Builder::<D>::new().finish(sql)
}

/// `data` and `expires` of the row `id`; held until the transaction ends when `lock`.
pub(super) fn select<D: Dialect>(table: &Table, id: &str, lock: bool) -> Statement {
    let mut b = Builder::<D>::new();
    let expires = match table.layout {
        Layout::Koa => q::<D>("expires"),
        Layout::Express => D::EXPRESS_EXPIRES.to_owned(),
    };
    let sql = format!(
        "SELECT {}, {expires} FROM {} WHERE {} = {}{}",
        q::<D>("data"),
        q::<D>(&table.name),
        q::<D>(table.id_column()),
        b.text(id),
        if lock { D::LOCK } else { "" },
    );
    b.finish(sql)
}

/// A new row `id`.
pub(super) fn insert<D: Dialect>(
    table: &Table,
    id: &str,
    data: &str,
    expires_ms: i64,
    now_ms: i64,
) -> Result<Statement, Failure> {
    let mut b = Builder::<D>::new();
    let name = q::<D>(&table.name);
    let sql = match table.layout {
        Layout::Koa => format!(
            "INSERT INTO {name} ({}, {}, {}) VALUES ({}, {}, {})",
            q::<D>("id"),
            q::<D>("data"),
            q::<D>("expires"),
            b.text(id),
            b.text(data),
            b.seconds(expires_ms),
        ),
        Layout::Express => format!(
            "INSERT INTO {name} ({}, {}, {}, {}, {}) VALUES ({}, {}, {}, {}, {})",
            q::<D>("sid"),
            q::<D>("expires"),
            q::<D>("data"),
            q::<D>("createdAt"),
            q::<D>("updatedAt"),
            b.text(id),
            b.date(expires_ms)?,
            b.text(data),
            b.date(now_ms)?,
            b.date(now_ms)?,
        ),
    };
    Ok(b.finish(sql))
}

/// The row `from` rewritten as `to` with `data` and `expires` (and `updatedAt`).
pub(super) fn rewrite<D: Dialect>(
    table: &Table,
    from: &str,
    to: &str,
    data: &str,
    expires_ms: i64,
    now_ms: i64,
) -> Result<Statement, Failure> {
    let mut b = Builder::<D>::new();
    let name = q::<D>(&table.name);
    let sql = match table.layout {
        Layout::Koa => format!(
            "UPDATE {name} SET {id} = {}, {} = {}, {} = {} WHERE {id} = {}",
            b.text(to),
            q::<D>("data"),
            b.text(data),
            q::<D>("expires"),
            b.seconds(expires_ms),
            b.text(from),
            id = q::<D>("id"),
        ),
        Layout::Express => format!(
            "UPDATE {name} SET {sid} = {}, {} = {}, {} = {}, {} = {} WHERE {sid} = {}",
            b.text(to),
            q::<D>("expires"),
            b.date(expires_ms)?,
            q::<D>("data"),
            b.text(data),
            q::<D>("updatedAt"),
            b.date(now_ms)?,
            b.text(from),
            sid = q::<D>("sid"),
        ),
    };
    Ok(b.finish(sql))
}

/// Deletes the row `id`.
pub(super) fn delete<D: Dialect>(table: &Table, id: &str) -> Statement {
    let mut b = Builder::<D>::new();
    let sql = format!(
        "DELETE FROM {} WHERE {} = {}",
        q::<D>(&table.name),
        q::<D>(table.id_column()),
        b.text(id),
    );
    b.finish(sql)
}
