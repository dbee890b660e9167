//! sessile-sql's integration tests, one binary (one link instead of one per file): one module
//! per server and suite, so each test's path names both (`mysql_conformance::...`,
//! `sequelize_conformance::express_postgres_tls::...`). They share the servers and run in
//! parallel; the tests that need a server or the process to themselves (fault injection, a
//! server-wide counter, the process-wide statement log) are the `serial` binary's.

#[path = "../support/mod.rs"]
mod support;

// The Node fixture (the npm apps and their driver) lives with sessile-node's interop tests.
#[cfg(all(
    feature = "sequelize",
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql"
))]
#[path = "../../../sessile-node-interop/tests/support/mod.rs"]
mod node_support;

mod mysql_conformance;
mod mysql_store;
mod mysql_two_instances;
mod postgres_cleanup;
mod postgres_conformance;
mod postgres_store;
mod sequelize_conformance;
mod sequelize_ddl;
mod sequelize_interop;
mod sqlite_conformance;
mod sqlite_store;
mod tls;
