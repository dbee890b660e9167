//! SQL session stores.
