//! From `--store URL` and the layout options to a connected [`Store`], with the builders' own
//! option names.

use std::path::PathBuf;
use std::time::Duration;

use sessile::Store;
use sessile_node::record_json::{NodeJson, NodeShape};
use sessile_redis::node::NodeRedisStore;
use sessile_redis::RedisStore;
use sessile_sql::sequelize::SequelizeStoreOptions;
use sessile_sql::{MySqlStoreOptions, PostgresStoreOptions, SqliteStoreOptions};

use crate::cli::{Layout, StoreArgs};
use crate::error::{CliError, Kind};

/// The options every SQL builder shares, from the arguments.
macro_rules! sql_options {
    ($options:expr, $args:expr) => {{
        let mut options = $options;
        if let Some(table) = &$args.table {
            options = options.table(table);
        }
        options
    }};
}
/// The Node layouts' `maxAge` only shapes documents the store writes; the CLI reads, counts and
/// deletes, where the stored deadline decides, so any value serves.
const NODE_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Connections a command needs at most (a gc batch, a scan page and a count never overlap).
const CONNECTIONS: u32 = 2;

/// A connected store and how to name it in messages.
pub struct Opened {
    pub store: Box<dyn Store>,
    /// The URL(s) without password.
    pub name: String,
}

/// What a URL names.
enum Target {
    Sqlite(PathBuf),
    Postgres(String),
    MySql(String),
    Redis { urls: Vec<String>, cluster: bool },
}

/// The URL with any password replaced by `***`, for messages and JSON output.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// The redacted name of the store(s) the arguments name.
pub fn store_name(args: &StoreArgs) -> String {
    args.urls
        .iter()
        .map(|url| redact(url))
        .collect::<Vec<_>>()
        .join(",")
}

fn target(args: &StoreArgs) -> Result<Target, CliError> {
    let name = store_name(args);
    let usage = |message: String| CliError::new(Kind::Usage, message).at(&name);
    let first = args.urls[0].trim();
    let scheme = first.split(':').next().unwrap_or_default();
    let target = match scheme {
        "redis" | "rediss" => Target::Redis {
            urls: args.urls.iter().map(|url| url.trim().to_owned()).collect(),
            cluster: args.cluster || args.urls.len() > 1,
        },
        _ if args.urls.len() > 1 => {
            return Err(usage(
                "several store URLs name a Redis Cluster; SQL stores take one".into(),
            ))
        }
        "sqlite" => {
            let path = first
                .strip_prefix("sqlite://")
                .or_else(|| first.strip_prefix("sqlite:"))
                .unwrap_or_default();
            if path.is_empty() {
                return Err(usage("a SQLite URL names a file: sqlite:PATH".into()));
            }
            Target::Sqlite(PathBuf::from(path))
        }
        "postgres" | "postgresql" => Target::Postgres(first.to_owned()),
        "mysql" | "mariadb" => Target::MySql(first.to_owned()),
        _ => {
            return Err(usage(format!(
                "unknown store URL scheme {scheme:?}: expected sqlite:, postgres://, mysql://, \
                 redis:// or rediss://"
            )))
        }
    };
    let sql = !matches!(target, Target::Redis { .. });
    if args.schema.is_some() && !matches!(target, Target::Postgres(_)) {
        return Err(usage("--schema is PostgreSQL's only".into()));
    }
    if sql && args.prefix.is_some() && args.layout != Layout::KoaGenericSession {
        return Err(usage(
            "--prefix on SQL is the Koa Sequelize table's row-id prefix \
             (--layout koa-generic-session)"
                .into(),
        ));
    }
    if !sql && args.table.is_some() {
        return Err(usage(
            "--table is for SQL stores; Redis takes --prefix".into(),
        ));
    }
    if sql && args.layout == Layout::KoaSession {
        return Err(usage(
            "koa-session keeps its external store on Redis (koa-redis); its Sequelize table is \
             --layout koa-generic-session"
                .into(),
        ));
    }
    if matches!(target, Target::Redis { cluster: true, .. }) && args.layout != Layout::Sessile {
        return Err(usage(
            "the Node layouts on Redis are standalone only (Node ids carry no hash tags)".into(),
        ));
    }
    Ok(target)
}

fn tls_ca(args: &StoreArgs) -> Result<Option<Vec<u8>>, CliError> {
    let Some(path) = &args.tls_ca else {
        return Ok(None);
    };
    std::fs::read(path).map(Some).map_err(|error| {
        CliError::new(
            Kind::Usage,
            format!("cannot read --tls-ca {}: {error}", path.display()),
        )
    })
}

fn node_json(layout: Layout) -> Option<NodeJson> {
    let shape = match layout {
        Layout::Sessile => return None,
        Layout::KoaSession => NodeShape::KoaSession,
        Layout::KoaGenericSession => NodeShape::GenericSession,
        Layout::KoaSessionMinimal => NodeShape::SessionMinimal,
        Layout::ExpressSession => NodeShape::Express,
    };
    Some(NodeJson::new(shape, NODE_MAX_AGE))
}

/// Whether the store has no schema to migrate (Redis writes its keys as it goes).
pub fn keeps_no_schema(args: &StoreArgs) -> Result<bool, CliError> {
    Ok(matches!(target(args)?, Target::Redis { .. }))
}

/// The SQL `migrate` would run, without connecting.
pub fn migration_sql(args: &StoreArgs) -> Result<String, CliError> {
    let name = store_name(args);
    let setup = |error: sessile_sql::Error| {
        CliError::new(Kind::Usage, error.to_string())
            .at(&name)
            .check("--table and --schema")
    };
    if args.layout != Layout::Sessile {
        return Err(CliError::new(
            Kind::Unsupported,
            "the Node layouts' tables belong to the Node app (Sequelize's sync() creates them); \
             `sessile migrate` without --print creates one with the same DDL",
        )
        .at(&name));
    }
    match target(args)? {
        Target::Sqlite(_) => sql_options!(SqliteStoreOptions::new(), args)
            .migration_sql()
            .map_err(setup),
        Target::Postgres(_) => {
            let mut options = sql_options!(PostgresStoreOptions::new(), args);
            if let Some(schema) = &args.schema {
                options = options.schema(schema);
            }
            options.migration_sql().map_err(setup)
        }
        Target::MySql(_) => sql_options!(MySqlStoreOptions::new(), args)
            .migration_sql()
            .map_err(setup),
        Target::Redis { .. } => Err(CliError::new(
            Kind::Unsupported,
            "Redis has no schema to migrate: the store writes its keys as it goes",
        )
        .at(&name)),
    }
}

/// Connects to the store; `migrate` creates or updates its table (the other commands never
/// change a schema: a missing table is an error that says to run `sessile migrate`).
pub async fn open(args: &StoreArgs, migrate: bool) -> Result<Opened, CliError> {
    let name = store_name(args);
    let target = target(args)?;
    let ca = tls_ca(args)?;
    let timeout = args.timeout();
    let sql_setup = |error: sessile_sql::Error| sql_error(&name, error);
    let store: Box<dyn Store> = match (target, node_json(args.layout)) {
        (Target::Sqlite(path), None) => {
            if !migrate && !path.exists() {
                return Err(CliError::new(
                    Kind::Unreachable,
                    format!("no SQLite file at {}", path.display()),
                )
                .at(&name)
                .check("the path (relative to the current directory), or run `sessile migrate` to create it"));
            }
            let options = sql_options!(SqliteStoreOptions::new(), args)
                .busy_timeout(timeout)
                .acquire_timeout(timeout)
                .max_connections(CONNECTIONS)
                .migrate_on_connect(migrate);
            Box::new(options.open(&path).await.map_err(sql_setup)?)
        }
        (Target::Postgres(url), None) => {
            let mut options = sql_options!(PostgresStoreOptions::new(), args)
                .statement_timeout(timeout)
                .acquire_timeout(timeout)
                .max_connections(CONNECTIONS)
                .migrate_on_connect(migrate);
            if let Some(schema) = &args.schema {
                options = options.schema(schema);
            }
            if let Some(ca) = ca {
                options = options.tls_ca_certificates(ca);
            }
            Box::new(options.connect(&url).await.map_err(sql_setup)?)
        }
        (Target::MySql(url), None) => {
            let mut options = sql_options!(MySqlStoreOptions::new(), args)
                .statement_timeout(timeout)
                .acquire_timeout(timeout)
                .max_connections(CONNECTIONS)
                .migrate_on_connect(migrate);
            if let Some(ca) = ca {
                options = options.tls_ca_certificates(ca);
            }
            Box::new(options.connect(&url).await.map_err(sql_setup)?)
        }
        (Target::Sqlite(_) | Target::Postgres(_) | Target::MySql(_), Some(json)) => {
            let url = args.urls[0].trim();
            let mut options = match args.layout {
                Layout::ExpressSession => SequelizeStoreOptions::express_session(NODE_MAX_AGE),
                Layout::KoaSessionMinimal => {
                    SequelizeStoreOptions::koa_session_minimal(NODE_MAX_AGE)
                }
                _ => SequelizeStoreOptions::koa_generic_session(NODE_MAX_AGE),
            }
            .node_json(json)
            .statement_timeout(timeout)
            .acquire_timeout(timeout)
            .max_connections(CONNECTIONS)
            .migrate_on_connect(migrate);
            if let Some(table) = &args.table {
                options = options.table(table);
            }
            if let Some(prefix) = &args.prefix {
                options = options.key_prefix(prefix);
            }
            if let Some(ca) = ca {
                options = options.tls_ca_certificates(ca);
            }
            Box::new(options.connect(url).await.map_err(sql_setup)?)
        }
        (Target::Redis { urls, cluster }, None) => {
            let mut builder = RedisStore::builder()
                .statement_timeout(timeout)
                .acquire_timeout(timeout);
            if let Some(prefix) = &args.prefix {
                builder = builder.key_prefix(prefix);
            }
            if let Some(ca) = ca {
                builder = builder.tls_ca_certificates(ca);
            }
            let connected = if cluster {
                builder.cluster(urls).await
            } else {
                builder.connect(&urls[0]).await
            };
            Box::new(connected.map_err(|error| redis_error(&name, error))?)
        }
        (Target::Redis { urls, .. }, Some(json)) => {
            let mut builder = NodeRedisStore::builder(json)
                .statement_timeout(timeout)
                .acquire_timeout(timeout);
            if let Some(prefix) = &args.prefix {
                builder = builder.key_prefix(prefix);
            }
            if let Some(ca) = ca {
                builder = builder.tls_ca_certificates(ca);
            }
            let connected = builder.connect(&urls[0]).await;
            Box::new(connected.map_err(|error| redis_error(&name, error))?)
        }
    };
    Ok(Opened { store, name })
}

fn sql_error(name: &str, error: sessile_sql::Error) -> CliError {
    let (kind, check) = match &error {
        sessile_sql::Error::Connect(_) => (
            Kind::Unreachable,
            "that the server is up and reachable from here, and the URL's host, port, user, \
             password and database (TLS: sslmode/sslrootcert, ssl-mode/ssl-ca, --tls-ca)",
        ),
        sessile_sql::Error::InvalidName { .. } => (Kind::Usage, "--table and --schema"),
        sessile_sql::Error::TlsCa { .. } => (Kind::Usage, "--tls-ca and the URL's TLS mode"),
        sessile_sql::Error::Table { .. } => (
            Kind::Failed,
            "that the Node app's table exists and --table and --layout name it",
        ),
        _ => (
            Kind::Failed,
            "the database user's rights, and that the schema is sessile's (`sessile migrate`)",
        ),
    };
    CliError::new(kind, error.to_string()).at(name).check(check)
}

fn redis_error(name: &str, error: sessile_redis::Error) -> CliError {
    let (kind, check) = match &error {
        sessile_redis::Error::Connect(_) => (
            Kind::Unreachable,
            "that Redis is up and reachable from here, the URL's host, port and password, and \
             rediss:// with --tls-ca for TLS",
        ),
        sessile_redis::Error::InvalidKeyPrefix { .. } => (Kind::Usage, "--prefix"),
        sessile_redis::Error::TlsCa { .. } => (Kind::Usage, "--tls-ca and the URL's scheme"),
        _ => (Kind::Usage, "the URL"),
    };
    CliError::new(kind, error.to_string()).at(name).check(check)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/app?sslmode=verify-full"),
            "postgres://app:***@db:5432/app?sslmode=verify-full"
        );
        assert_eq!(
            redact("redis://:pw@127.0.0.1:6379"),
            "redis://:***@127.0.0.1:6379"
        );
        assert_eq!(
            redact("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
        assert_eq!(redact("sqlite:sessions.db"), "sqlite:sessions.db");
    }
}
