#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The front page and the module docs describe the whole crate, request path included; without
// `runtime` those items do not exist and their links stay plain text.
#![cfg_attr(not(feature = "runtime"), allow(rustdoc::broken_intra_doc_links))]

pub mod change;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod cleanup;
pub mod codec;
pub mod config;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod csrf;
pub mod document;
pub mod events;
pub mod id;
pub mod keys;
pub mod limit;
pub mod record;
#[cfg(feature = "runtime")]
mod request;
pub mod revocation;
mod sealed;
pub mod store;
mod stores;
pub mod takeover;
#[cfg(feature = "runtime")]
mod telemetry;
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
pub mod time;

pub use change::{ChangeSet, Forward, KeyChange, Touch};
pub use codec::{SealedCookies, SignedIds};
pub use config::{Config, ConfigBuilder, ConfigError, CookieConfig, CookieConfigBuilder};
/// The cookie's cross-site policy, re-exported from the `cookie` crate sessile builds cookies with.
pub use cookie::SameSite;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub use csrf::Csrf;
pub use events::{Event, EventSink, RejectReason, TracingEvents};
pub use id::{SessionId, StoreKey};
pub use keys::{Key, KeyError, Keys};
pub use record::{Deadline, Device, Record, SessionData, SessionSummary};
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub use request::{
    AfterHandler, CommitOutcome, ResponseHeaders, Session, SessionError, SessionManager,
};
pub use store::{
    BoxError, CreateOutcome, IncrementOutcome, RotateOutcome, ScanPage, ScannedSession, Store,
    StoreError, UpdateOutcome, UserSessionsPage,
};
pub use stores::memory::MemoryStore;
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
