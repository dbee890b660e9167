//! What happens to sessions, for audit logs and metrics. Ids appear only as short keyed tags.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::record::Deadline;
use crate::time::{Clock, SystemClock, Timestamp};

/// A session event. `tag` is [`crate::SessionId::log_tag`]: short, keyed, never the id.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // every field is a log tag or reason, described on the variant
#[non_exhaustive]
pub enum Event {
    /// A new session was stored.
    Created { tag: String },
    /// An existing session was loaded.
    Loaded { tag: String },
    /// The request's session had expired: `deadline` tells whether it was idle too long or
    /// reached its absolute lifetime. Reported while the store still holds the expired record
    /// (memory and SQL stores until cleanup, the cookie store always); a store that drops
    /// records at their deadline (Redis) reports [`Event::Missed`] instead.
    Expired { tag: String, deadline: Deadline },
    /// The request presented a valid, verified id whose session the store does not hold: it
    /// was deleted (signed out, revoked, cleaned up after expiry), dropped by the store at its
    /// deadline, or never stored. Not an attack by itself: the id carried a valid signature.
    Missed { tag: String },
    /// The id sent by the client was malformed, badly signed or did not open; no store was
    /// asked. `client_ip` is the request's client address only when the app opted in to
    /// keeping client addresses (`ConfigBuilder::record_ip`), `None` otherwise.
    Rejected {
        reason: RejectReason,
        client_ip: Option<IpAddr>,
    },
    /// The validity hook refused a loaded session.
    Invalidated { tag: String },
    /// The session moved to a new id.
    Rotated { from: String, to: String },
    /// The session was destroyed by the handler.
    Destroyed { tag: String },
    /// The session disappeared while the request ran (logout or revocation elsewhere); the
    /// request's changes were dropped and the cookie cleared.
    Interrupted { tag: String },
    /// The stored record could not be decoded; treated as no session.
    Corrupt { tag: String },
    /// A user signed in on session `tag`: the commit stored `user` as its signed-in user
    /// (a first sign-in, or a switch from another user).
    SignedIn { tag: String, user: String },
    /// The signed-in user left session `tag`: `set_user(None)` was committed, or the session
    /// was destroyed while signed in. `user` is who was signed in when the request knew it
    /// (it read the session); a sign-out without a read does not load the record to find out.
    SignedOut { tag: String, user: Option<String> },
    /// The signed-in `user` revoked their session `tag` from a listing (`Session::revoke`).
    Revoked { tag: String, user: String },
    /// The signed-in `user` signed out everywhere else (`Session::revoke_others`): `count`
    /// sessions deleted, the request's own (`kept`, if it had one) kept.
    RevokedOthers {
        user: String,
        count: u64,
        kept: Option<String>,
    },
    /// Every session of `user` was deleted (`SessionManager::delete_user_sessions`: a password
    /// reset, a locked account): `count` sessions.
    UserSessionsDeleted { user: String, count: u64 },
}

/// Why a client's session id was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// Wrong length, alphabet or structure.
    Malformed,
    /// The signature matches none of the keys.
    BadSignature,
    /// The sealed cookie-store state did not open under any key.
    Unsealable,
}

/// Receives session events. The default, [`TracingEvents`], logs them with `tracing`.
///
/// ```
/// use sessile::{Event, EventSink};
/// struct Count(std::sync::atomic::AtomicUsize);
/// impl EventSink for Count {
///     fn emit(&self, _event: &Event) {
///         self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///     }
/// }
/// ```
pub trait EventSink: Send + Sync + 'static {
    /// Called once per event, on the request's task: keep it quick.
    fn emit(&self, event: &Event);
}

/// How often [`TracingEvents`] writes its summary of rejected ids, at most.
const REJECTION_SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// Logs events with `tracing`: sign-ins, sign-outs, revocations and interruptions at `info`
/// (an audit trail: session tags and the user the app set, never an id), corrupt records at
/// `warn`, the rest at `debug`.
///
/// A rejected id (malformed, badly signed, a sealed cookie that does not open) is logged at
/// `debug`, one line each, and counted: at most once a minute an
/// `info` line sums them up ("9999 session ids rejected in the last 60 s (malformed: 9999, bad
/// signature: 0, unsealable: 0)"), so a client sending 10,000 bad cookies writes no more info
/// lines than one sending two. The first rejection is summed up at once; later ones with the
/// first event after the interval ends (no timer runs) or when the sink is dropped.
///
/// ```
/// use std::time::Duration;
/// use sessile::{Event, EventSink, ManualClock, RejectReason, Timestamp, TracingEvents};
/// let clock = ManualClock::new(Timestamp::from_millis(0));
/// let events = TracingEvents::with_summary(Duration::from_secs(60), clock.clone());
/// let rejected = Event::Rejected {
///     reason: RejectReason::Malformed,
///     client_ip: None,
/// };
/// events.emit(&rejected); // debug line, and the first summary at info
/// events.emit(&rejected); // debug line, counted
/// clock.advance(Duration::from_secs(60));
/// events.emit(&Event::Loaded { tag: "abcd1234".into() }); // the summary of the second
/// ```
#[derive(Clone, Debug)]
pub struct TracingEvents {
    rejections: Arc<RejectionSummary>,
}

impl Default for TracingEvents {
    fn default() -> Self {
        Self::new()
    }
}

impl TracingEvents {
    /// Summarizes rejections at most once a minute of the system clock.
    pub fn new() -> Self {
        Self::with_summary(REJECTION_SUMMARY_INTERVAL, SystemClock)
    }

    /// Summarizes rejections at most once per `interval` of `clock` (a `ManualClock` in tests).
    pub fn with_summary(interval: Duration, clock: impl Clock) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let started = clock.now();
        Self {
            rejections: Arc::new(RejectionSummary {
                clock,
                interval,
                started,
                pending: AtomicU64::new(0),
                window: Mutex::default(),
            }),
        }
    }
}

impl EventSink for TracingEvents {
    fn emit(&self, event: &Event) {
        match event {
            Event::Rejected { reason, client_ip } => {
                tracing::debug!(?reason, ?client_ip, "session id rejected");
                self.rejections.count(*reason);
                return;
            }
            Event::Corrupt { tag } => tracing::warn!(session = %tag, "corrupt session record"),
            Event::Interrupted { tag } => {
                tracing::info!(session = %tag, "session gone during request; changes dropped")
            }
            Event::SignedIn { tag, user } => tracing::info!(session = %tag, %user, "signed in"),
            Event::SignedOut { tag, user } => {
                tracing::info!(session = %tag, user = user.as_deref(), "signed out")
            }
            Event::Revoked { tag, user } => {
                tracing::info!(session = %tag, %user, "session revoked by its user")
            }
            Event::RevokedOthers { user, count, kept } => tracing::info!(
                %user,
                count,
                kept = kept.as_deref(),
                "user signed out everywhere else"
            ),
            Event::UserSessionsDeleted { user, count } => {
                tracing::info!(%user, count, "every session of the user deleted")
            }
            other => tracing::debug!(event = ?other, "session event"),
        }
        self.rejections.write_if_due();
    }
}

/// The rejections counted since the last summary line.
struct RejectionSummary {
    clock: Arc<dyn Clock>,
    interval: Duration,
    started: Timestamp,
    /// Rejections not summed up yet: every other event reads it, and takes the lock only when
    /// something waits.
    pending: AtomicU64,
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    /// When the last summary was written; `None` before the first.
    written: Option<Timestamp>,
    malformed: u64,
    bad_signature: u64,
    unsealable: u64,
}

impl RejectionSummary {
    fn count(&self, reason: RejectReason) {
        let mut window = self.lock();
        match reason {
            RejectReason::Malformed => window.malformed += 1,
            RejectReason::BadSignature => window.bad_signature += 1,
            RejectReason::Unsealable => window.unsealable += 1,
        }
        self.pending.fetch_add(1, Ordering::Relaxed);
        self.write(&mut window, false);
    }

    fn write_if_due(&self) {
        if self.pending.load(Ordering::Relaxed) > 0 {
            self.write(&mut self.lock(), false);
        }
    }

    /// Writes the summary when the interval since the last one has passed (or the first time,
    /// or `now_anyway`), and starts counting again.
    fn write(&self, window: &mut Window, now_anyway: bool) {
        let now = self.clock.now();
        let since = window.written.unwrap_or(self.started);
        let due = window
            .written
            .is_none_or(|written| now.since(written) >= self.interval);
        let rejected = window.malformed + window.bad_signature + window.unsealable;
        if rejected == 0 || !(due || now_anyway) {
            return;
        }
        let Window {
            malformed,
            bad_signature,
            unsealable,
            ..
        } = *window;
        tracing::info!(
            rejected,
            malformed,
            bad_signature,
            unsealable,
            "{rejected} session ids rejected in the last {} s (malformed: {malformed}, bad \
             signature: {bad_signature}, unsealable: {unsealable})",
            now.since(since).as_secs()
        );
        *window = Window {
            written: Some(now),
            ..Window::default()
        };
        self.pending.store(0, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for RejectionSummary {
    fn drop(&mut self) {
        let window = self.window.get_mut().unwrap_or_else(|p| p.into_inner());
        let mut window = std::mem::take(window);
        self.write(&mut window, true);
    }
}

impl std::fmt::Debug for RejectionSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RejectionSummary")
            .field("interval", &self.interval)
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
