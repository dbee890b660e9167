//! What happens to sessions, for audit logs and metrics. Ids appear only as short keyed tags.

use crate::record::Deadline;

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
    /// The id sent by the client was malformed, badly signed or unknown; no store was asked.
    Rejected { reason: RejectReason },
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

/// Logs every event at `debug` (rejections, corruption and interruptions at `info`/`warn`).
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingEvents;

impl EventSink for TracingEvents {
    fn emit(&self, event: &Event) {
        match event {
            Event::Corrupt { tag } => tracing::warn!(session = %tag, "corrupt session record"),
            Event::Interrupted { tag } => {
                tracing::info!(session = %tag, "session gone during request; changes dropped")
            }
            Event::Rejected { reason } => tracing::info!(?reason, "session id rejected"),
            other => tracing::debug!(event = ?other, "session event"),
        }
    }
}
