//! Nothing to use here: this package holds sessile-node's tests that need an async runtime (see
//! `tests/it`), kept apart so that sessile-node itself depends on no runtime.
