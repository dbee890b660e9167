//! Helpers shared by the integration tests: temporary SQLite files, connecting to the test
//! servers, and the axum app the HTTP tests run.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::time::Duration;

use sessile::{Record, Timestamp, Touch};

#[cfg(any(feature = "postgres", feature = "mysql"))]
pub mod http;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod statements;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub mod tls;

/// The idle timeout of the tests' sessions; their absolute deadline is twice that.
pub const IDLE: Duration = Duration::from_secs(3600);

/// A live record created at `now` holding `data` (an object): no user, default device.
pub fn record_at(now: Timestamp, data: serde_json::Value) -> Record {
    let mut record = Record::new(now, now + IDLE, now + 2 * IDLE);
    record.data = serde_json::from_value(data).expect("test data is an object");
    record
}

/// Activity at `now`, extending the idle deadline by [`IDLE`].
pub fn touch_at(now: Timestamp) -> Touch {
    Touch::new(now, now + IDLE)
}
