//! The interop tests of sessile-node that need sessile's request path, hence an async runtime:
//! a Rust axum app and a real Koa app sharing one cookie jar, and malformed Node cookies through
//! the engine. One binary, one module per suite (`koa_cookie_interop::...`, `malformed_engine::...`).

#[path = "../support/mod.rs"]
mod support;

mod koa_cookie_interop;
mod malformed_engine;
mod node_http;
