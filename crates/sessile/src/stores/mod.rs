//! The stores that ship with the core.

pub mod cookie;
pub mod memory;
