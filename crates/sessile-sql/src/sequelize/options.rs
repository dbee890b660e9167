//! How to build a [`SequelizeStore`]: the options every sessile store has, plus the package's
//! table layout, row-id prefix and document shape.

use std::sync::Arc;
use std::time::Duration;

use sessile_node::record_json::{NodeJson, NodeShape};

#[cfg(feature = "mysql")]
use super::mysql;
#[cfg(feature = "postgres")]
use super::postgres;
#[cfg(feature = "sqlite")]
use super::sqlite;
use super::table::{self, ColumnKind, ExtraColumn, FieldSource, Layout, Table};
use super::{Db, Error, Inner, SequelizeStore};
use crate::options::{shared_options, SharedOptions};

/// How to build a [`SequelizeStore`]: which package's table, its name, the document shape and
/// the connection limits, with the option names of every sessile store:
///
/// - `table` (default `Sessions`, the packages' `tableName`), checked when the store is built;
/// - `key_prefix`: koa-generic-session's `prefix` (default `koa:sess:`), Koa table only;
/// - `max_connections` (default 10), `acquire_timeout` (default 5 s);
/// - `statement_timeout` (default 5 s): PostgreSQL's `statement_timeout`, MariaDB's
///   `max_statement_time` / MySQL's `max_execution_time` plus `innodb_lock_wait_timeout`,
///   SQLite's busy timeout; `no_statement_timeout` keeps the server's (SQLite: no waiting);
/// - `migrate_on_connect` (default **off**, the table is the Node app's): create the table with
///   the exact DDL Sequelize's `sync()` emits.
///
/// ```no_run
/// use std::time::Duration;
/// use sessile_sql::sequelize::SequelizeStoreOptions;
///
/// # async fn run() -> Result<(), sessile_sql::sequelize::Error> {
/// // express-session + connect-session-sequelize, cookie.maxAge one hour, table "web_sessions".
/// let store = SequelizeStoreOptions::express_session(Duration::from_secs(3600))
///     .table("web_sessions")
///     .statement_timeout(Duration::from_secs(2))
///     .connect("mysql://app:secret@db.internal:3306/app")
///     .await?;
/// # let _ = store;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SequelizeStoreOptions {
    layout: Layout,
    shared: SharedOptions,
    prefix: Option<String>,
    json: NodeJson,
    timestamps: bool,
    extra: Vec<ExtraColumn>,
}

impl SequelizeStoreOptions {
    fn new(layout: Layout, json: NodeJson) -> Self {
        Self {
            layout,
            // The table is the Node app's: not created unless asked for.
            shared: SharedOptions::new("Sessions", false),
            prefix: None,
            json,
            timestamps: false,
            extra: Vec::new(),
        }
    }

    /// koa-generic-session-sequelize's table under koa-generic-session: table `Sessions`, row ids
    /// `koa:sess:<sid>`, documents with koa-generic-session's `cookie` object; `max_age` is the
    /// app's `cookie.maxAge`.
    pub fn koa_generic_session(max_age: Duration) -> Self {
        Self::new(
            Layout::Koa,
            NodeJson::new(NodeShape::GenericSession, max_age),
        )
    }

    /// koa-generic-session-sequelize's table under koa-session-minimal: as
    /// [`koa_generic_session`](Self::koa_generic_session), with the bare data as the document.
    pub fn koa_session_minimal(max_age: Duration) -> Self {
        Self::new(
            Layout::Koa,
            NodeJson::new(NodeShape::SessionMinimal, max_age),
        )
    }

    /// connect-session-sequelize's table under express-session: table `Sessions`, `sid` the
    /// express-session id, documents with express-session's `cookie` object; `max_age` is the
    /// app's `cookie.maxAge`.
    pub fn express_session(max_age: Duration) -> Self {
        Self::new(Layout::Express, NodeJson::new(NodeShape::Express, max_age))
    }

    shared_options!(statement_timeout);

    /// koa-generic-session's `prefix` (default `koa:sess:`). Koa table only.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The document mapping, for cookie attributes or a user field other than the defaults.
    /// Its shape must be one the table's package writes ([`NodeShape::GenericSession`] or
    /// [`NodeShape::SessionMinimal`] for Koa, [`NodeShape::Express`] for Express).
    pub fn node_json(mut self, json: NodeJson) -> Self {
        self.json = json;
        self
    }

    /// koa-generic-session-sequelize's `timestamps: true`: the table has Sequelize's
    /// `createdAt` and `updatedAt` columns (`DATE NOT NULL`), which the store fills as Sequelize
    /// does (`createdAt` when the row is created, `updatedAt` on every write). The
    /// connect-session-sequelize table always has them.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile_sql::sequelize::SequelizeStoreOptions;
    /// // new SequelizeStore(sequelize, { timestamps: true })
    /// let options = SequelizeStoreOptions::koa_generic_session(Duration::from_secs(86_400))
    ///     .timestamps(true);
    /// # let _ = options;
    /// ```
    pub fn timestamps(mut self, timestamps: bool) -> Self {
        self.timestamps = timestamps;
        self
    }

    /// A column of the app's own that holds the signed-in user ([`sessile::Record::user`],
    /// stored as `kind`), as connect-session-sequelize's `extendDefaultFields` fills one
    /// (`userId: session.user`). Written on every write, as the package's `set` does; `NULL`
    /// while nobody is signed in (a `NOT NULL` column then refuses anonymous sessions, on
    /// both sides). The column is the table's **per-user index**: `list_user_sessions`,
    /// `delete_user_sessions` (revoke all, or all but one) work on this table.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile_sql::sequelize::{ColumnKind, SequelizeStoreOptions};
    /// // extendDefaultFields: (defaults, session) => ({ ...defaults, userId: session.user })
    /// let options = SequelizeStoreOptions::express_session(Duration::from_secs(3600))
    ///     .user_column("userId", ColumnKind::Text);
    /// # let _ = options;
    /// ```
    pub fn user_column(mut self, column: impl Into<String>, kind: ColumnKind) -> Self {
        self.extra.push(ExtraColumn {
            name: column.into(),
            source: FieldSource::User,
            kind,
        });
        self
    }

    /// A column of the app's own filled from the session data's top-level `key`, as
    /// `extendDefaultFields` fills one (`tenant: session.tenant`): a string or an integer
    /// stored as `kind`, `NULL` when the key is missing or holds something else. Written on
    /// every write, as the package's `set` does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile_sql::sequelize::{ColumnKind, SequelizeStoreOptions};
    /// let options = SequelizeStoreOptions::express_session(Duration::from_secs(3600))
    ///     .data_column("tenantId", "tenant", ColumnKind::Integer);
    /// # let _ = options;
    /// ```
    pub fn data_column(
        mut self,
        column: impl Into<String>,
        key: impl Into<String>,
        kind: ColumnKind,
    ) -> Self {
        self.extra.push(ExtraColumn {
            name: column.into(),
            source: FieldSource::Data(key.into()),
            kind,
        });
        self
    }

    fn checked_table(&self) -> Result<Table, Error> {
        table::validate_table_name(&self.shared.table)?;
        let shape_fits = match self.layout {
            Layout::Koa => matches!(
                self.json.shape(),
                NodeShape::GenericSession | NodeShape::SessionMinimal
            ),
            Layout::Express => self.json.shape() == NodeShape::Express,
        };
        if !shape_fits {
            return Err(Error::Config(format!(
                "the {:?} document shape does not belong in this package's table",
                self.json.shape()
            )));
        }
        let prefix = match (self.layout, &self.prefix) {
            (Layout::Koa, prefix) => prefix.clone().unwrap_or_else(|| "koa:sess:".to_owned()),
            (Layout::Express, None) => String::new(),
            (Layout::Express, Some(_)) => {
                return Err(Error::Config(
                    "connect-session-sequelize keeps the plain sid: no prefix".to_owned(),
                ))
            }
        };
        if self.timestamps && self.layout == Layout::Express {
            return Err(Error::Config(
                "connect-session-sequelize's table always has createdAt and updatedAt: \
                 `timestamps` is koa-generic-session-sequelize's option"
                    .to_owned(),
            ));
        }
        let mut names = vec!["id", "sid", "data", "expires", "createdAt", "updatedAt"];
        for column in &self.extra {
            crate::names::validate_identifier("column", &column.name, 63)?;
            if names.contains(&column.name.as_str()) {
                return Err(Error::Config(format!(
                    "the column {:?} is the package's own, or named twice",
                    column.name
                )));
            }
            names.push(&column.name);
        }
        if self
            .extra
            .iter()
            .filter(|column| column.source == FieldSource::User)
            .count()
            > 1
        {
            return Err(Error::Config("one user column at most".to_owned()));
        }
        if self.shared.migrate_on_connect && (self.timestamps || !self.extra.is_empty()) {
            return Err(Error::Config(
                "a table with timestamps or columns of the app's own is the app's: create it \
                 with the Node store's sync() (migrate_on_connect creates only the package's \
                 default table)"
                    .to_owned(),
            ));
        }
        Ok(Table {
            layout: self.layout,
            name: self.shared.table.clone(),
            prefix,
            json: self.json.clone(),
            timestamps: self.timestamps,
            extra: self.extra.clone(),
        })
    }

    /// Connects to `url` (`sqlite:path` / `sqlite://path`, `postgres://...`, `mysql://...` or
    /// `mariadb://...`), then creates or checks the table.
    pub async fn connect(self, url: &str) -> Result<SequelizeStore, Error> {
        let table = self.checked_table()?;
        let scheme = url.split(':').next().unwrap_or_default();
        let db = match scheme {
            #[cfg(feature = "sqlite")]
            "sqlite" if self.shared.tls_ca_certificates.is_some() => {
                return Err(Error::TlsCa {
                    reason: "a SQLite file has no TLS connection to verify".to_owned(),
                });
            }
            #[cfg(feature = "sqlite")]
            "sqlite" => Db::Sqlite(sqlite::connect(url, &self.shared).await?),
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => Db::Postgres(postgres::connect(url, &self.shared).await?),
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => {
                let url = url.replacen("mariadb:", "mysql:", 1);
                Db::MySql(mysql::connect(&url, &self.shared).await?)
            }
            _ => return Err(Error::UnsupportedUrl(url.to_owned())),
        };
        let store = SequelizeStore {
            inner: Arc::new(Inner { db, table }),
        };
        let prepared = if self.shared.migrate_on_connect {
            on_db!(&store.inner.db, db, d => d::create_table(db, &store.inner.table).await)
        } else {
            on_db!(&store.inner.db, db, d => d::check_table(db, &store.inner.table).await)
        };
        prepared.map_err(|source| Error::Table {
            table: store.inner.table.name.clone(),
            source,
        })?;
        Ok(store)
    }
}
