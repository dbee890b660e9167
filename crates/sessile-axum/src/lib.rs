//! tower Layer and axum extractor for sessile.
