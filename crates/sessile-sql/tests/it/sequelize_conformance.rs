//! The Node-layout conformance suite (`sessile::node_layout_conformance!`) against
//! `sessile_sql::sequelize::SequelizeStore`: the koa-generic-session-sequelize table (with
//! koa-generic-session and koa-session-minimal documents) and the connect-session-sequelize
//! table, on SQLite, PostgreSQL (`DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/test)
//! and MariaDB (`MYSQL_URL`, default mysql://root@127.0.0.1:3306/test), and again over verified
//! TLS on the TLS-only PostgreSQL and MariaDB (`POSTGRES_TLS_URL`, `MYSQL_TLS_URL`, by default
//! ports 5433 and 3307 with the CA in `SESSILE_TLS_DIR`); `scripts/services` starts the servers.
//!
//! Every case uses fresh keys, so each table is shared by the cases (and by parallel runs); the
//! table names are this binary's own. Tables come from the store's `create_table` (Sequelize's
//! exact DDL) except where the suite's inputs exceed what the package's columns hold on that
//! server: its ids are 43 characters (connect-session-sequelize's `sid` is `VARCHAR(36)`, which
//! PostgreSQL and MySQL enforce) and one document is over 100 KB (MySQL's `TEXT` holds 64 KB).
//! Those tables are created here with a wider column of the same kind; the store's SQL is the
//! same.

#![cfg(all(
    feature = "sequelize",
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql"
))]

use std::sync::Arc;
use std::time::Duration;

use sessile::StoreKey;
use sessile_sql::sequelize::{ColumnKind, SequelizeStore, SequelizeStoreOptions};

use crate::support::tls;

const MAX_AGE: Duration = Duration::from_secs(30 * 60);

#[derive(Clone, Copy)]
enum Dialect {
    Sqlite,
    Postgres,
    MySql,
    /// The TLS-only PostgreSQL, verified against the test CA.
    PostgresTls,
    /// The TLS-only MariaDB, verified against the test CA.
    MySqlTls,
}

#[derive(Clone, Copy)]
enum Package {
    KoaGeneric,
    KoaMinimal,
    Express,
    /// connect-session-sequelize's table with an `extendDefaultFields` column `userId` that
    /// holds the user: the per-user index profile.
    ExpressUser,
    /// koa-generic-session-sequelize's table with `timestamps: true` and a `userId` column.
    KoaUser,
}

fn url(dialect: Dialect, package: Package) -> String {
    match dialect {
        // One file per table: SQLite locks a whole file for a write, so five suites running in
        // parallel on one file waited on each other past the busy timeout on a loaded machine.
        Dialect::Sqlite => format!(
            "sqlite://{}",
            std::env::temp_dir()
                .join(format!(
                    "sessile-node-sql-conformance-{}.db",
                    table(package)
                ))
                .display()
        ),
        Dialect::Postgres => std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
        Dialect::MySql => std::env::var("MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned()),
        Dialect::PostgresTls => tls::server_url(
            "POSTGRES_TLS_URL",
            "postgres://postgres@127.0.0.1:5433/test?sslmode=verify-full&sslrootcert={ca}",
        ),
        Dialect::MySqlTls => tls::server_url(
            "MYSQL_TLS_URL",
            "mysql://root@127.0.0.1:3307/test?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}",
        ),
    }
}

fn table(package: Package) -> &'static str {
    match package {
        Package::KoaGeneric => "sqlconf_koa_generic",
        Package::KoaMinimal => "sqlconf_koa_minimal",
        Package::Express => "sqlconf_express",
        Package::ExpressUser => "sqlconf_express_user",
        Package::KoaUser => "sqlconf_koa_user",
    }
}

fn id_column(package: Package) -> &'static str {
    match package {
        Package::Express | Package::ExpressUser => "sid",
        _ => "id",
    }
}

/// The widened tables (see the module docs); `None` where Sequelize's DDL holds the suite.
fn widened_ddl(dialect: Dialect, package: Package) -> Option<Vec<String>> {
    let name = table(package);
    match (dialect, package) {
        // The tables with the app's own columns are the app's (its Sequelize model): created
        // here, as its sync() would, with a nullable `userId` (the cases store anonymous
        // sessions too).
        (Dialect::Sqlite, Package::ExpressUser) => Some(vec![format!(
            "CREATE TABLE IF NOT EXISTS `{name}` (`sid` VARCHAR(64) PRIMARY KEY, `expires` DATETIME, \
             `data` TEXT, `createdAt` DATETIME NOT NULL, `updatedAt` DATETIME NOT NULL, \
             `userId` VARCHAR(255))"
        )]),
        (Dialect::Postgres | Dialect::PostgresTls, Package::ExpressUser) => Some(vec![format!(
            "CREATE TABLE IF NOT EXISTS \"{name}\" (\"sid\" VARCHAR(64) , \"expires\" TIMESTAMP WITH TIME ZONE, \
             \"data\" TEXT, \"createdAt\" TIMESTAMP WITH TIME ZONE NOT NULL, \
             \"updatedAt\" TIMESTAMP WITH TIME ZONE NOT NULL, \"userId\" VARCHAR(255), PRIMARY KEY (\"sid\"))"
        )]),
        (Dialect::MySql | Dialect::MySqlTls, Package::ExpressUser) => Some(vec![format!(
            "CREATE TABLE IF NOT EXISTS `{name}` (`sid` VARCHAR(64) , `expires` DATETIME, `data` LONGTEXT, \
             `createdAt` DATETIME NOT NULL, `updatedAt` DATETIME NOT NULL, `userId` VARCHAR(255), \
             PRIMARY KEY (`sid`)) ENGINE=InnoDB"
        )]),
        (Dialect::Sqlite, Package::KoaUser) => Some(vec![format!(
            "CREATE TABLE IF NOT EXISTS `{name}` (`id` VARCHAR(100) PRIMARY KEY, `data` TEXT, \
             `expires` BIGINT, `createdAt` DATETIME NOT NULL, `updatedAt` DATETIME NOT NULL, \
             `userId` VARCHAR(255))"
        )]),
        (Dialect::Postgres | Dialect::PostgresTls, Package::KoaUser) => Some(vec![format!(
            "CREATE TABLE IF NOT EXISTS \"{name}\" (\"id\" VARCHAR(100) , \"data\" TEXT, \"expires\" BIGINT, \
             \"createdAt\" TIMESTAMP WITH TIME ZONE NOT NULL, \"updatedAt\" TIMESTAMP WITH TIME ZONE NOT NULL, \
             \"userId\" VARCHAR(255), PRIMARY KEY (\"id\"))"
        )]),
        (Dialect::MySql | Dialect::MySqlTls, Package::KoaUser) => Some(vec![format!(
            "CREATE TABLE IF NOT EXISTS `{name}` (`id` VARCHAR(100) , `data` LONGTEXT, `expires` BIGINT, \
             `createdAt` DATETIME NOT NULL, `updatedAt` DATETIME NOT NULL, `userId` VARCHAR(255), \
             PRIMARY KEY (`id`)) ENGINE=InnoDB"
        )]),
        (Dialect::Postgres | Dialect::PostgresTls, Package::Express) => Some(vec![format!(
            "CREATE TABLE IF NOT EXISTS \"{name}\" (\"sid\" VARCHAR(64) , \"expires\" TIMESTAMP WITH TIME ZONE, \
             \"data\" TEXT, \"createdAt\" TIMESTAMP WITH TIME ZONE NOT NULL, \
             \"updatedAt\" TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (\"sid\"))"
        )]),
        (Dialect::MySql | Dialect::MySqlTls, Package::Express) => Some(vec![format!(
            "CREATE TABLE IF NOT EXISTS `{name}` (`sid` VARCHAR(64) , `expires` DATETIME, `data` LONGTEXT, \
             `createdAt` DATETIME NOT NULL, `updatedAt` DATETIME NOT NULL, PRIMARY KEY (`sid`)) ENGINE=InnoDB"
        )]),
        (Dialect::MySql | Dialect::MySqlTls, _) => Some(vec![
            format!(
                "CREATE TABLE IF NOT EXISTS `{name}` (`id` VARCHAR(100) , `data` LONGTEXT, `expires` BIGINT, \
                 PRIMARY KEY (`id`)) ENGINE=InnoDB"
            ),
            format!("CREATE INDEX IF NOT EXISTS `{name}_expires` ON `{name}` (`expires`)"),
        ]),
        _ => None,
    }
}

/// Runs `sql` with `params` bound, on a connection of its own; the rows it changed.
async fn execute(
    dialect: Dialect,
    package: Package,
    sql: &str,
    params: &[&str],
) -> Result<u64, sqlx::Error> {
    macro_rules! on {
        ($pool:ty) => {{
            let pool = <$pool>::connect(&url(dialect, package)).await?;
            let query = params
                .iter()
                .fold(sqlx::query(sql), |query, param| query.bind(*param));
            let result = query.execute(&pool).await.map(|done| done.rows_affected());
            pool.close().await;
            result
        }};
    }
    if let Dialect::Sqlite = dialect {
        // The DDL of the tables with the app's own columns may run before any store opened
        // the file: an empty file is an empty SQLite database.
        let path = url(dialect, package);
        let path = path.trim_start_matches("sqlite://");
        if let Err(error) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            eprintln!("{path}: {error}");
        }
    }
    match dialect {
        Dialect::Sqlite => on!(sqlx::SqlitePool),
        Dialect::Postgres | Dialect::PostgresTls => on!(sqlx::PgPool),
        Dialect::MySql | Dialect::MySqlTls => on!(sqlx::MySqlPool),
    }
}

async fn store(dialect: Dialect, package: Package) -> SequelizeStore {
    let options = match package {
        Package::KoaGeneric => SequelizeStoreOptions::koa_generic_session(MAX_AGE),
        Package::KoaMinimal => SequelizeStoreOptions::koa_session_minimal(MAX_AGE),
        Package::Express => SequelizeStoreOptions::express_session(MAX_AGE),
        Package::ExpressUser => {
            SequelizeStoreOptions::express_session(MAX_AGE).user_column("userId", ColumnKind::Text)
        }
        Package::KoaUser => SequelizeStoreOptions::koa_generic_session(MAX_AGE)
            .timestamps(true)
            .user_column("userId", ColumnKind::Text),
    }
    .table(table(package));
    let options = match widened_ddl(dialect, package) {
        Some(statements) => {
            for sql in statements {
                // Parallel cases race to create the table; the store's check below is what
                // must pass.
                if let Err(error) = execute(dialect, package, &sql, &[]).await {
                    eprintln!("{sql}: {error} (another case may have created it)");
                }
            }
            options
        }
        None => options.migrate_on_connect(true),
    };
    options
        .connect(&url(dialect, package))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the session database at {} is not usable: {e}; start the servers (the TLS ones \
             too) with `scripts/services`",
                url(dialect, package)
            )
        })
}

/// Overwrites the row's document with text no Node package could parse.
async fn write_garbage(
    dialect: Dialect,
    package: Package,
    store: Arc<SequelizeStore>,
    key: StoreKey,
) {
    let id = store.row_id(&key).expect("a Node id");
    let garbage = "{\"cookie\": not json";
    let (quote, marks) = match dialect {
        Dialect::Postgres | Dialect::PostgresTls => ('"', ["$1", "$2"]),
        Dialect::Sqlite | Dialect::MySql | Dialect::MySqlTls => ('`', ["?", "?"]),
    };
    let sql = format!(
        "UPDATE {q}{}{q} SET {q}data{q} = {} WHERE {q}{}{q} = {}",
        table(package),
        marks[0],
        id_column(package),
        marks[1],
        q = quote,
    );
    let written = execute(dialect, package, &sql, &[garbage, &id]).await;
    assert_eq!(written.expect("write garbage"), 1);
}

macro_rules! suite {
    ($name:ident, $dialect:expr, $package:expr, user_index) => {
        mod $name {
            use super::*;
            sessile::node_layout_conformance!(
                store($dialect, $package),
                corrupt = |store, key| write_garbage($dialect, $package, store, key),
                user_index,
                sweeps_expired,
                scans,
            );
        }
    };
    ($name:ident, $dialect:expr, $package:expr) => {
        mod $name {
            use super::*;
            sessile::node_layout_conformance!(
                store($dialect, $package),
                corrupt = |store, key| write_garbage($dialect, $package, store, key),
                sweeps_expired,
                scans,
            );
        }
    };
}

suite!(koa_generic_sqlite, Dialect::Sqlite, Package::KoaGeneric);
suite!(koa_minimal_sqlite, Dialect::Sqlite, Package::KoaMinimal);
suite!(express_sqlite, Dialect::Sqlite, Package::Express);
suite!(koa_generic_postgres, Dialect::Postgres, Package::KoaGeneric);
suite!(koa_minimal_postgres, Dialect::Postgres, Package::KoaMinimal);
suite!(express_postgres, Dialect::Postgres, Package::Express);
suite!(koa_generic_mariadb, Dialect::MySql, Package::KoaGeneric);
suite!(koa_minimal_mariadb, Dialect::MySql, Package::KoaMinimal);
suite!(express_mariadb, Dialect::MySql, Package::Express);
suite!(
    koa_generic_postgres_tls,
    Dialect::PostgresTls,
    Package::KoaGeneric
);
suite!(
    koa_minimal_postgres_tls,
    Dialect::PostgresTls,
    Package::KoaMinimal
);
suite!(express_postgres_tls, Dialect::PostgresTls, Package::Express);
suite!(
    koa_generic_mariadb_tls,
    Dialect::MySqlTls,
    Package::KoaGeneric
);
suite!(
    koa_minimal_mariadb_tls,
    Dialect::MySqlTls,
    Package::KoaMinimal
);
suite!(express_mariadb_tls, Dialect::MySqlTls, Package::Express);

// The per-user index profile: tables with a user column, on the three databases.
suite!(
    express_user_sqlite,
    Dialect::Sqlite,
    Package::ExpressUser,
    user_index
);
suite!(
    express_user_postgres,
    Dialect::Postgres,
    Package::ExpressUser,
    user_index
);
suite!(
    express_user_mariadb,
    Dialect::MySql,
    Package::ExpressUser,
    user_index
);
suite!(
    koa_user_sqlite,
    Dialect::Sqlite,
    Package::KoaUser,
    user_index
);
suite!(
    koa_user_postgres,
    Dialect::Postgres,
    Package::KoaUser,
    user_index
);
suite!(
    koa_user_mariadb,
    Dialect::MySql,
    Package::KoaUser,
    user_index
);
