//! sessile-redis's integration tests, one binary (one link instead of one per file): one module
//! per server and suite, so each test's path names both (`cluster_conformance::...`,
//! `node_conformance::express::...`, `tls::cluster::...`). They share the servers and run in
//! parallel; the tests that stop or kill a server are the `serial` binary's.

#[path = "../common/mod.rs"]
mod common;

// The Node fixture (the npm apps and their driver) lives with sessile-node's interop tests.
#[cfg(feature = "node")]
#[path = "../../../sessile-node-interop/tests/support/mod.rs"]
mod node_support;

mod cluster_conformance;
mod cluster_two_apps;
mod hot_path_layout;
mod node_conformance;
mod node_errors;
mod node_interop;
mod round_trips;
mod standalone_conformance;
mod tls;
mod user_limit;
