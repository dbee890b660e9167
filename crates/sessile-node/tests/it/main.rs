//! sessile-node's integration tests, one binary (one link instead of one per file): the vectors
//! the npm packages produced, malformed input, and the live Koa and Express apps, one module
//! each, so each test's path names its suite (`vectors::...`, `live::...`).

#[path = "../support/mod.rs"]
mod support;

mod koa_cookie_interop;
mod live;
mod malformed;
mod malformed_engine;
mod store_vectors;
mod vectors;
