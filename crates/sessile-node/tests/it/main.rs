//! sessile-node's integration tests, one binary (one link instead of one per file): the vectors
//! the npm packages produced, malformed input, and the live Koa and Express apps driven over
//! plain `std::net` HTTP, one module each, so each test's path names its suite (`vectors::...`,
//! `live::...`). Tests that need an async runtime (the engine, a Rust server beside the Node
//! apps) are in crates/sessile-node-interop, which keeps tokio out of this crate's dependencies.

mod live;
mod malformed;
mod store_vectors;
mod vectors;
