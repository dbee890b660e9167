//! The request's state machine. This module is the only one that changes a request's phase:
//! the handle and the commit ask for a transition through the methods below.

use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderValue;
use serde_json::Value;

use crate::change::ChangeSet;
use crate::codec::{CookieCodec, OpenedCookie, PresentedId};
use crate::events::{Event, RejectReason};
use crate::id::SessionId;
use crate::record::Record;
use crate::time::Timestamp;

use super::{Backend, Shared, StoreBackend};

/// The session's phase once the request's id (or sealed state) was looked at. Each backend has
/// its own phase type and the phase carries its backend, so a phase of the other backend cannot
/// be written down.
pub(super) enum Phase {
    Store {
        backend: Arc<StoreBackend>,
        at: StorePhase,
    },
    Cookie {
        codec: Arc<dyn CookieCodec>,
        at: CookiePhase,
    },
}

/// A server-side session within one request.
pub(super) enum StorePhase {
    /// A valid signed id arrived; the store has not been asked yet.
    Unloaded { id: SessionId },
    /// The record is loaded and live.
    Existing { id: SessionId, record: Box<Record> },
    /// No session in the store for this request (yet).
    Fresh(Fresh),
    /// The session vanished while the request used it: changes are dropped, never recreated.
    Interrupted,
}

/// A client-side session within one request.
pub(super) enum CookiePhase {
    /// The request carries a client-side session; not opened yet (opening is lazy too).
    Sealed,
    /// The session is opened and live.
    Existing { id: SessionId, record: Box<Record> },
    /// No live session in the request's cookies (yet).
    Fresh(Fresh),
}

/// No session for this request (yet). `ended` is a session this request destroyed;
/// `clear_cookie` asks to remove a client cookie that no longer names a session.
pub(super) struct Fresh {
    pub(super) ended: Option<Ended>,
    pub(super) clear_cookie: bool,
    /// The cookie was refused (not verified), rather than naming a session that is gone: the
    /// codec's [`IdCodec::refusal`](crate::codec::IdCodec::refusal) removes it.
    pub(super) refused: bool,
}

/// A session this request destroyed, and who was signed in on it if the request read it (the
/// sign-out its deletion is).
pub(super) struct Ended {
    pub(super) id: SessionId,
    pub(super) user: Option<String>,
    /// The request loaded the session live before destroying it (else it may be a forward
    /// pointer a concurrent rotation left, whose target ends too).
    pub(super) loaded: bool,
}

impl Fresh {
    const NONE: Fresh = Fresh {
        ended: None,
        clear_cookie: false,
        refused: false,
    };
    const DEAD_COOKIE: Fresh = Fresh {
        ended: None,
        clear_cookie: true,
        refused: false,
    };

    /// A refused cookie: removed only when the codec asks for that (`clears`).
    fn refused(clears: bool) -> Fresh {
        Fresh {
            ended: None,
            clear_cookie: clears,
            refused: true,
        }
    }

    /// The request's own session `id`, destroyed: deleted at commit, its cookie removed.
    fn ending(id: SessionId, record: Option<Box<Record>>) -> Fresh {
        Fresh {
            ended: Some(Ended {
                id,
                loaded: record.is_some(),
                user: record.and_then(|record| record.user),
            }),
            clear_cookie: true,
            refused: false,
        }
    }
}

pub(super) struct RequestState {
    /// `None` until the handler first uses the session: [`RequestState::resolve`] looks at the
    /// request's id then, so an untouched session costs neither a signature check nor a store
    /// call.
    pub(super) phase: Option<Phase>,
    pub(super) changes: ChangeSet,
    pub(super) rotate: bool,
    /// The id verified under an older key: re-sign it once the session is known to be live.
    pub(super) reissue: bool,
    /// An `increment` already moved the idle deadline in the store during this request.
    pub(super) touched_in_store: bool,
    /// The session was reached through a forward pointer: a concurrent request rotated it less
    /// than the rotation grace ago. This request does not rotate it again (its rotation already
    /// gave the session a fresh id; a second one would hand the same browser two new ids, and
    /// whichever response arrived last would leave it holding one that dies with the grace).
    pub(super) forwarded: bool,
    /// `Session::touch` or `Session::save` asked for a write the throttle would skip.
    pub(super) forced: Forced,
    /// A signed-in cookie session just opened, whose user's revocation time must be looked up
    /// before it is used (only with a [`crate::revocation::RevocationList`]): user, creation.
    pub(super) revocation_check: Option<(String, Timestamp)>,
    pub(super) request: RequestFacts,
}

/// A write the handler forces on an unchanged session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Forced {
    #[default]
    Nothing,
    /// Write the activity time (the idle deadline) now.
    Touch,
    /// Write the session and hand its cookie out again; a new session is stored even empty.
    Save,
}

/// What the session may need from the request, kept cheaply (header values are shared bytes)
/// and interpreted only when the session is used.
pub(super) struct RequestFacts {
    pub(super) id_headers: IdHeaders,
    pub(super) user_agent: Option<HeaderValue>,
    pub(super) client_ip: Option<IpAddr>,
}

/// The request's values of the id header. Nearly every request carries one `Cookie` header (or
/// none), which is kept without a heap allocation.
pub(super) enum IdHeaders {
    None,
    One(HeaderValue),
    Many(Vec<HeaderValue>),
}

impl IdHeaders {
    pub(super) fn push(&mut self, value: HeaderValue) {
        *self = match std::mem::replace(self, IdHeaders::None) {
            IdHeaders::None => IdHeaders::One(value),
            IdHeaders::One(first) => IdHeaders::Many(vec![first, value]),
            IdHeaders::Many(mut values) => {
                values.push(value);
                IdHeaders::Many(values)
            }
        };
    }

    pub(super) fn as_slice(&self) -> &[HeaderValue] {
        match self {
            IdHeaders::None => &[],
            IdHeaders::One(value) => std::slice::from_ref(value),
            IdHeaders::Many(values) => values,
        }
    }
}

/// A live session a load found for a presented id: under that id, or under the id a rotation
/// moved it to less than the rotation grace ago (`forwarded_to`).
pub(super) struct Found {
    pub(super) record: Box<Record>,
    pub(super) forwarded_to: Option<SessionId>,
}

/// Where an `increment` runs.
pub(super) enum IncrementAt {
    /// In the store, at once, on the session named `id`.
    Store {
        backend: Arc<StoreBackend>,
        id: SessionId,
    },
    /// In the request's changes, from this current value.
    Changes(Option<Value>),
    /// Nowhere: the session ended while the request used it.
    Gone,
}

impl RequestState {
    pub(super) fn new(request: RequestFacts) -> Self {
        Self {
            phase: None,
            changes: ChangeSet::default(),
            rotate: false,
            reissue: false,
            touched_in_store: false,
            forwarded: false,
            forced: Forced::Nothing,
            revocation_check: None,
            request,
        }
    }

    /// Whether the handler changed anything to commit.
    pub(super) fn has_changes(&self) -> bool {
        !self.changes.is_empty() || self.rotate || self.forced != Forced::Nothing
    }

    /// Whether the request has no session it arrived with (a new one, or none at all yet).
    pub(super) fn is_new(&self) -> bool {
        matches!(
            self.phase,
            None | Some(Phase::Store {
                at: StorePhase::Fresh(_),
                ..
            }) | Some(Phase::Cookie {
                at: CookiePhase::Fresh(_),
                ..
            })
        )
    }

    /// The phase, looking at the presented id on first use: shape, then signature, never the
    /// store.
    pub(super) fn resolve(&mut self, shared: &Shared) -> &mut Phase {
        let request = &self.request;
        let reissue = &mut self.reissue;
        self.phase.get_or_insert_with(|| match &shared.backend {
            Backend::Store(backend) => {
                let at = match backend.ids.read(request.id_headers.as_slice()) {
                    PresentedId::Absent => StorePhase::Fresh(Fresh::NONE),
                    PresentedId::Valid { id, stale } => {
                        *reissue = stale;
                        StorePhase::Unloaded { id }
                    }
                    PresentedId::Refused(reason) => {
                        shared
                            .config
                            .events
                            .emit(&rejected(shared, request, reason));
                        // Not verified, so not ours to clear (DESIGN: no response clears a
                        // cookie the request did not present and verify), unless the codec
                        // follows a Node package that does.
                        StorePhase::Fresh(Fresh::refused(backend.ids.clears_refused()))
                    }
                };
                Phase::Store {
                    backend: backend.clone(),
                    at,
                }
            }
            Backend::Cookie(codec) => Phase::Cookie {
                codec: codec.clone(),
                at: CookiePhase::Sealed,
            },
        })
    }

    /// The live record this request sees, if it loaded one.
    pub(super) fn record(&self) -> Option<&Record> {
        match &self.phase {
            Some(Phase::Store {
                at: StorePhase::Existing { record, .. },
                ..
            })
            | Some(Phase::Cookie {
                at: CookiePhase::Existing { record, .. },
                ..
            }) => Some(record),
            _ => None,
        }
    }

    /// Whether this request gives the session a new id or a new signed-in user; `None` while
    /// the stored user is not known (the session is not loaded or opened yet).
    pub(super) fn identity_changes(&self) -> Option<bool> {
        if self.rotate && !self.forwarded {
            return Some(true);
        }
        let Some(user) = &self.changes.user else {
            return Some(false);
        };
        match self.record() {
            Some(record) => Some(*user != record.user),
            None if self.is_unloaded() || self.is_sealed() => None,
            // A new session has no user yet.
            None => Some(user.is_some()),
        }
    }

    /// The id of the session the request arrived with, if it presented a valid one.
    pub(super) fn id(&self) -> Option<&SessionId> {
        match &self.phase {
            Some(Phase::Store {
                at: StorePhase::Unloaded { id } | StorePhase::Existing { id, .. },
                ..
            })
            | Some(Phase::Cookie {
                at: CookiePhase::Existing { id, .. },
                ..
            }) => Some(id),
            _ => None,
        }
    }

    /// Whether a client-side session waits to be opened.
    pub(super) fn is_sealed(&self) -> bool {
        matches!(
            self.phase,
            Some(Phase::Cookie {
                at: CookiePhase::Sealed,
                ..
            })
        )
    }

    /// Whether a server-side session was presented and not loaded yet.
    pub(super) fn is_unloaded(&self) -> bool {
        matches!(
            self.phase,
            Some(Phase::Store {
                at: StorePhase::Unloaded { .. },
                ..
            })
        )
    }

    /// Opens a client-side session that waits to be opened (no I/O: the state is in the
    /// request), and tells which server-side session must be loaded, if one must.
    pub(super) fn open_or_pending_load(
        &mut self,
        shared: &Shared,
        now: Timestamp,
    ) -> Option<(Arc<StoreBackend>, SessionId)> {
        let request = &self.request;
        match self.phase.as_mut()? {
            Phase::Store {
                backend,
                at: StorePhase::Unloaded { id },
            } => Some((backend.clone(), id.clone())),
            Phase::Cookie { codec, at } if matches!(at, CookiePhase::Sealed) => {
                let (opened, stale) = open_cookie(shared, codec.as_ref(), request, now);
                if let CookiePhase::Existing { record, .. } = &opened {
                    if let (Some(user), Some(_)) = (&record.user, &shared.hooks.revocations) {
                        self.revocation_check = Some((user.clone(), record.created_at));
                    }
                }
                *at = opened;
                self.reissue = stale;
                None
            }
            _ => None,
        }
    }

    /// The cookie session opened before its user's revocation time: it is no session, as one
    /// the validity hook refused.
    pub(super) fn revoked(&mut self, shared: &Shared) {
        if let Some(Phase::Cookie { at, .. }) = &mut self.phase {
            if let CookiePhase::Existing { id, .. } = at {
                shared
                    .config
                    .events
                    .emit(&Event::Invalidated { tag: id.log_tag() });
                *at = CookiePhase::Fresh(Fresh::DEAD_COOKIE);
                self.reissue = false;
            }
        }
    }

    /// Takes the answer of the store to the load of `id` (`None`: no live, valid session). A
    /// phase that moved on while the store answered (a `destroy` in between) is kept.
    pub(super) fn loaded(&mut self, id: &SessionId, found: Option<Found>) {
        let Some(Phase::Store { at, .. }) = &mut self.phase else {
            return;
        };
        if !matches!(at, StorePhase::Unloaded { id: unloaded } if unloaded == id) {
            return;
        }
        match found {
            Some(found) => self.found(id, found),
            None => {
                *at = StorePhase::Fresh(Fresh::DEAD_COOKIE);
                self.reissue = false;
            }
        }
    }

    /// The session `id` (unloaded or loaded) is `found` live, possibly under the id it was
    /// rotated to (rotation grace): the request continues on that session, and hands its id out
    /// to the client, whose cookie still names the old one. A phase that moved on meanwhile is
    /// kept.
    pub(super) fn found(&mut self, id: &SessionId, found: Found) {
        let Some(Phase::Store { at, .. }) = &mut self.phase else {
            return;
        };
        if !matches!(
            at,
            StorePhase::Unloaded { id: current } | StorePhase::Existing { id: current, .. }
                if current == id
        ) {
            return;
        }
        let id = match found.forwarded_to {
            Some(to) => {
                self.reissue = true;
                self.forwarded = true;
                to
            }
            None => id.clone(),
        };
        *at = StorePhase::Existing {
            id,
            record: found.record,
        };
    }

    /// Whether the commit would leave the loaded session without data and without a user, on a
    /// codec that ends such a session ([`IdCodec::ends_emptied`](crate::codec::IdCodec::ends_emptied)):
    /// the commit then destroys it instead. A change set the store would refuse leaves nothing.
    pub(super) fn leaves_session_empty(&self) -> bool {
        let Some(Phase::Store {
            backend,
            at: StorePhase::Existing { record, .. },
        }) = &self.phase
        else {
            return false;
        };
        if !backend.ids.ends_emptied() || self.changes.is_empty() {
            return false;
        }
        let signed_in = match &self.changes.user {
            Some(user) => user.is_some(),
            None => record.user.is_some(),
        };
        if signed_in {
            return false;
        }
        let mut data = record.data.clone();
        self.changes.apply_data_to(&mut data).is_ok() && data.is_empty()
    }

    /// Ends the session: deleted at commit, the cookie removed. Writes after it start a new
    /// session. Only a cookie the request presented is removed: a `destroy` on a request
    /// without one (a cross-site `POST /logout`, say) answers no `Set-Cookie` at all.
    pub(super) fn destroy(&mut self, shared: &Shared) {
        if self.is_sealed() {
            // Opening needs no I/O; it tells whether the request holds a session to end.
            self.open_or_pending_load(shared, shared.now());
        }
        match self.resolve(shared) {
            Phase::Store { at, .. } => {
                let fresh = match std::mem::replace(at, StorePhase::Interrupted) {
                    StorePhase::Unloaded { id } => Fresh::ending(id, None),
                    StorePhase::Existing { id, record } => Fresh::ending(id, Some(record)),
                    StorePhase::Fresh(fresh) => fresh,
                    // The presented session vanished meanwhile: its cookie goes.
                    StorePhase::Interrupted => Fresh::DEAD_COOKIE,
                };
                *at = StorePhase::Fresh(fresh);
            }
            Phase::Cookie { at, .. } => {
                let fresh = match std::mem::replace(at, CookiePhase::Sealed) {
                    CookiePhase::Existing { id, record } => Fresh::ending(id, Some(record)),
                    CookiePhase::Fresh(fresh) => fresh,
                    CookiePhase::Sealed => Fresh::NONE,
                };
                *at = CookiePhase::Fresh(fresh);
            }
        }
        self.changes = ChangeSet::default();
        self.rotate = false;
        self.reissue = false;
        self.forced = Forced::Nothing;
    }

    /// Where an increment of `key` runs. A key this request already wrote is incremented in the
    /// request's changes; so is every key of a client-side or a new session.
    pub(super) fn increment_at(&mut self, shared: &Shared, key: &str) -> IncrementAt {
        if let Some(decided) = self.changes.decided_value(key) {
            return IncrementAt::Changes(decided.cloned());
        }
        match self.resolve(shared) {
            Phase::Store {
                backend,
                at: StorePhase::Unloaded { id } | StorePhase::Existing { id, .. },
            } => IncrementAt::Store {
                backend: backend.clone(),
                id: id.clone(),
            },
            Phase::Store {
                at: StorePhase::Interrupted,
                ..
            } => IncrementAt::Gone,
            Phase::Cookie {
                at: CookiePhase::Existing { record, .. },
                ..
            } => IncrementAt::Changes(record.data.get(key).cloned()),
            Phase::Store {
                at: StorePhase::Fresh(_),
                ..
            }
            | Phase::Cookie { .. } => IncrementAt::Changes(None),
        }
    }

    /// The store applied an increment of `key` to `value`, touching the session at `now`.
    pub(super) fn incremented_in_store(&mut self, key: &str, value: i64, now: Timestamp) {
        self.touched_in_store = true;
        if let Some(Phase::Store {
            at: StorePhase::Existing { record, .. },
            ..
        }) = &mut self.phase
        {
            record.data.insert(key.to_owned(), value.into());
            record.last_seen = now;
        }
    }

    /// The store found no live session `id` to increment. Loaded earlier in this request, the
    /// session ended under the request (`true`: interrupted); never loaded, it had ended before,
    /// like an expired session (`false`: the increment starts a new one; the caller's load
    /// named why with its event).
    pub(super) fn increment_found_nothing(&mut self, shared: &Shared, id: &SessionId) -> bool {
        let Some(Phase::Store { at, .. }) = &mut self.phase else {
            return false;
        };
        let events = &shared.config.events;
        match at {
            StorePhase::Existing { .. } => {
                events.emit(&Event::Interrupted { tag: id.log_tag() });
                *at = StorePhase::Interrupted;
                true
            }
            StorePhase::Unloaded { .. } => {
                *at = StorePhase::Fresh(Fresh::DEAD_COOKIE);
                self.reissue = false;
                false
            }
            StorePhase::Interrupted => true,
            StorePhase::Fresh(_) => false,
        }
    }

    /// The store holds an undecodable record under `id`, found by an increment, an update or a
    /// rotation: like a failed load, that is no session (event `corrupt`); the increment or the
    /// commit's changes start a new one.
    pub(super) fn found_corrupt(&mut self, shared: &Shared, id: &SessionId) {
        let Some(Phase::Store { at, .. }) = &mut self.phase else {
            return;
        };
        if matches!(
            at,
            StorePhase::Unloaded { .. } | StorePhase::Existing { .. }
        ) {
            shared
                .config
                .events
                .emit(&Event::Corrupt { tag: id.log_tag() });
            *at = StorePhase::Fresh(Fresh::DEAD_COOKIE);
            self.reissue = false;
        }
    }
}

/// Opens the request's client-side session into a phase, emitting the event that explains a
/// refusal; `true` with a session opened under an older key.
fn open_cookie(
    shared: &Shared,
    codec: &dyn CookieCodec,
    request: &RequestFacts,
    now: Timestamp,
) -> (CookiePhase, bool) {
    let events = &shared.config.events;
    let tag = || "cookie".to_owned();
    let dead = CookiePhase::Fresh(Fresh::DEAD_COOKIE);
    match codec.open(request.id_headers.as_slice(), now) {
        OpenedCookie::Absent => (CookiePhase::Fresh(Fresh::NONE), false),
        OpenedCookie::Live { id, record, stale } => {
            let id = id.unwrap_or_else(SessionId::generate);
            if !shared.is_valid(&record) {
                events.emit(&Event::Invalidated { tag: id.log_tag() });
                return (dead, false);
            }
            events.emit(&Event::Loaded { tag: id.log_tag() });
            (CookiePhase::Existing { id, record }, stale)
        }
        OpenedCookie::Refused => {
            events.emit(&rejected(shared, request, RejectReason::Unsealable));
            // Not opened, so not verified: not ours to clear, unless the codec says otherwise.
            (
                CookiePhase::Fresh(Fresh::refused(codec.clears_refused())),
                false,
            )
        }
        OpenedCookie::Corrupt => {
            events.emit(&Event::Corrupt { tag: tag() });
            (dead, false)
        }
        OpenedCookie::Expired { deadline } => {
            events.emit(&Event::Expired {
                tag: tag(),
                deadline,
            });
            (dead, false)
        }
    }
}

/// The event of a refused id or sealed cookie: the client's address only when the app keeps
/// client addresses.
fn rejected(shared: &Shared, request: &RequestFacts, reason: RejectReason) -> Event {
    Event::Rejected {
        reason,
        client_ip: request.client_ip.filter(|_| shared.config.record_ip),
    }
}
