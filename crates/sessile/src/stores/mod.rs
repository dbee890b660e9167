//! The stores that ship with the core.

pub mod memory;
