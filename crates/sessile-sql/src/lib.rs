//! SQL session stores for [`sessile`].
//!
//! - `SqliteStore` (feature `sqlite`, on by default) keeps sessions in one SQLite file: the
//!   embedded default for apps that run on a single machine.
//! - `PostgresStore` (feature `postgres`): `jsonb` data, `timestamptz` deadlines, every commit one
//!   statement, cleanup batches with `FOR UPDATE SKIP LOCKED`.
//! - `MySqlStore` (feature `mysql`): MariaDB 10.11 and MySQL 8, `JSON` data, every commit one
//!   statement (`increment` through `LAST_INSERT_ID(expr)`, since MariaDB has no
//!   `UPDATE ... RETURNING`).
//!
//! - `sequelize` (feature `sequelize`): the tables of koa-generic-session-sequelize and
//!   connect-session-sequelize on the enabled databases, for sharing sessions with a Node app.
//!
//! They share the dialect-neutral pieces of this crate: record encoding, error classification
//! and the migration list format.
//!
//! Every store here follows the [`sessile::Store`] contract: records are addressed by the
//! SHA-256 store key (raw ids are never stored), each method is one statement or one transaction,
//! `update`, `rotate` and `increment` never recreate a deleted session, and expired rows are
//! never returned, whether or not cleanup has deleted them yet.
//!
//! ```
//! use sessile::{SessionId, Store, Timestamp};
//! use sessile_sql::SqliteStore;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let path = std::env::temp_dir().join(format!("sessile-doc-{}.db", std::process::id()));
//! let store = SqliteStore::open(&path).await?;
//! let key = SessionId::generate().store_key();
//! assert!(store.load(&key, Timestamp::from_millis(0)).await?.is_none());
//! # store.pool().close().await;
//! # for suffix in ["", "-wal", "-shm"] {
//! #     let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#![warn(missing_docs)]

#[doc(hidden)]
pub mod bench_support;
mod codec;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
mod delta;
mod error;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod held;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod increment_batch;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod limit;
mod migrations;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod names;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod options;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(all(
    feature = "sequelize",
    any(feature = "sqlite", feature = "postgres", feature = "mysql")
))]
pub mod sequelize;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod tls;

pub use error::Error;
#[cfg(feature = "mysql")]
pub use mysql::{MySqlStore, MySqlStoreOptions};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, PostgresStoreOptions};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, SqliteStoreOptions};
