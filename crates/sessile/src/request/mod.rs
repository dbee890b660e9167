//! One request's session, start to end, owned by this module tree:
//!
//! - `manager`: [`SessionManager`] starts each request's session; the hooks live on it;
//! - `state`: the request's state machine; the only module that changes the phase;
//! - `plan`: the only function that decides what a commit does ([`plan::Commit`]);
//! - `commit`: carries a plan out, at most one store operation;
//! - `handle`: [`Session`], the handler's lazy handle.

mod commit;
mod device;
mod error;
mod handle;
mod manager;
mod outcome;
mod plan;
mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

pub use error::SessionError;
pub use handle::{AfterHandler, Session};
pub use manager::{ResponseHeaders, SessionManager};
pub use outcome::CommitOutcome;

use crate::change::Touch;
use crate::codec::{CookieCodec, IdCodec};
use crate::config::Config;
use crate::record::Record;
use crate::revocation::RevocationList;
use crate::store::{Store, StoreError};
use crate::telemetry::{error_kind, Operation, Telemetry};
use crate::time::Timestamp;

/// A server-side store and the codec of the ids that name its sessions.
pub(crate) struct StoreBackend {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) ids: Arc<dyn IdCodec>,
}

/// Where sessions live: a server-side store (the client holds an id) or the client's cookies.
/// A request's phase carries its own side (see `state::Phase`), so no code pairs a phase with
/// the other backend.
#[derive(Clone)]
pub(crate) enum Backend {
    Store(Arc<StoreBackend>),
    Cookie(Arc<dyn CookieCodec>),
}

/// Called after a session loads; `false` discards it (koa-session's `valid`).
type ValidityCheck = Arc<dyn Fn(&Record) -> bool + Send + Sync>;
/// Called before a session with changes is committed; may add changes (koa-session's `beforeSave`).
type BeforeSave = Arc<dyn Fn(&Session) + Send + Sync>;

/// The hooks an application registers on its [`SessionManager`].
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) validity_check: Option<ValidityCheck>,
    pub(crate) before_save: Option<BeforeSave>,
    pub(crate) revocations: Option<Arc<dyn RevocationList>>,
}

/// What every request of one manager shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) hooks: Hooks,
    pub(crate) backend: Backend,
    pub(crate) telemetry: Arc<Telemetry>,
}

impl Shared {
    pub(crate) fn now(&self) -> Timestamp {
        self.config.clock.now()
    }

    /// A write at `now`: the idle deadline moves by the session's own idle timeout when the
    /// loaded `record` has one, else by the configuration's.
    pub(crate) fn touch(&self, record: Option<&Record>, now: Timestamp) -> Touch {
        Touch {
            last_seen: now,
            idle_deadline: now + self.idle_timeout_of(record),
        }
    }

    fn idle_timeout_of(&self, record: Option<&Record>) -> Duration {
        record
            .and_then(|record| record.idle_timeout)
            .unwrap_or(self.config.idle_timeout)
    }

    pub(crate) fn touch_due(&self, record: &Record, now: Timestamp) -> bool {
        let window = self
            .idle_timeout_of(Some(record))
            .mul_f64(self.config.touch_throttle);
        now.since(record.last_seen) >= window
    }

    /// The idle timeout a new session without a user gets as its own: `None` when the
    /// anonymous one is no shorter than the manager's, so such records carry nothing extra.
    pub(crate) fn anonymous_idle_timeout(&self) -> Option<std::time::Duration> {
        let anonymous = self.config.anonymous_idle_timeout();
        (anonymous < self.config.idle_timeout).then_some(anonymous)
    }

    /// Looks up the revocation time of the cookie session `state` just opened, if one is due,
    /// and ends the session when it was created before it. One store call, bounded like every
    /// other; a failure fails the request (503 when unreachable): a revocation the server
    /// cannot check is not assumed away.
    pub(crate) async fn check_revocation(
        &self,
        check: Option<(String, Timestamp)>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (Some((user, created_at)), Some(list)) = (check, &self.hooks.revocations) else {
            return Ok(false);
        };
        let not_before = self
            .call(Operation::Lookup, list.not_before(&user, now))
            .await?;
        Ok(not_before.is_some_and(|not_before| created_at < not_before))
    }

    pub(crate) fn is_valid(&self, record: &Record) -> bool {
        self.hooks
            .validity_check
            .as_ref()
            .is_none_or(|check| check(record))
    }

    /// Runs one store call, bounded by the configured timeout, in a `sessile.store` span, its
    /// latency and any error counted.
    pub(crate) async fn call<T>(
        &self,
        operation: Operation,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let span = tracing::debug_span!(
            "sessile.store",
            store = self.telemetry.store,
            operation = operation.name(),
            outcome = tracing::field::Empty,
        );
        let started = Instant::now();
        let call = crate::store::bounded(self.config.store_timeout, call);
        // Wrapping the call only for a subscriber that wants the span keeps the future small
        // (and unmoved) otherwise.
        let result = if span.is_disabled() {
            call.await
        } else {
            call.instrument(span.clone()).await
        };
        let error = result.as_ref().err();
        self.telemetry
            .store_call(operation, started.elapsed(), error);
        span.record("outcome", error.map_or("ok", error_kind));
        result
    }
}
