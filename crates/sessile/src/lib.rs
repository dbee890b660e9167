#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod change;
pub mod cleanup;
pub mod codec;
pub mod config;
pub mod csrf;
pub mod events;
pub mod id;
pub mod keys;
pub mod record;
mod request;
pub mod store;
mod stores;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod time;

pub use change::{ChangeSet, KeyChange, Touch};
pub use codec::{SealedCookies, SignedIds};
pub use config::{Config, ConfigBuilder, ConfigError, CookieConfig, CookieConfigBuilder};
/// The cookie's cross-site policy, re-exported from the `cookie` crate sessile builds cookies with.
pub use cookie::SameSite;
pub use csrf::Csrf;
pub use events::{Event, EventSink, RejectReason, TracingEvents};
pub use id::{SessionId, StoreKey};
pub use keys::{Key, KeyError, Keys};
pub use record::{Deadline, Device, Record, SessionData, SessionSummary};
pub use request::{
    AfterHandler, CommitOutcome, ResponseHeaders, Session, SessionError, SessionManager,
};
pub use store::{
    BoxError, CreateOutcome, IncrementOutcome, RotateOutcome, ScanPage, ScannedSession, Store,
    StoreError, UpdateOutcome,
};
pub use stores::memory::MemoryStore;
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
