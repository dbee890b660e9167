//! The commit plan: the one function that decides what a request's commit does. The commit
//! carries the plan out; whether a request can finish without one is the plan being
//! [`Commit::Nothing`], not a second copy of the rules.

use crate::change::{ChangeSet, KeyChange};
use crate::codec::CookieCodec;
use crate::id::SessionId;
use crate::record::Record;
use crate::time::Timestamp;

use super::state::{
    CookiePhase, Ended, Forced, Fresh, Phase, RequestFacts, RequestState, StorePhase,
};
use super::{Shared, StoreBackend};

/// Where a new session goes, or an ended one is removed from.
pub(super) enum Target<'s> {
    Store(&'s StoreBackend),
    Cookie(&'s dyn CookieCodec),
}

/// What a commit does. Each plan issues at most one store operation, except `Create` after a
/// `destroy` in the same request (a delete, then a create).
pub(super) enum Commit<'s> {
    /// Nothing at all: no store call, no event, no response header.
    Nothing,
    /// Hand the unchanged session's id out again, without a store call: it verified under an
    /// older key (`renew: false`), or an increment moved the idle deadline that the cookie's
    /// expiry follows (`renew: true`).
    Reissue {
        backend: &'s StoreBackend,
        id: &'s SessionId,
        record: &'s mut Record,
        renew: bool,
    },
    /// Store a new session holding the changes, after deleting the one this request destroyed.
    Create {
        target: Target<'s>,
        ended: Option<&'s Ended>,
        changes: &'s mut ChangeSet,
        request: &'s RequestFacts,
    },
    /// No session to hand out: delete the one this request destroyed (if any) and remove the
    /// client's cookie. `dropped`: the session ended elsewhere and the request's writes are lost.
    Remove {
        target: Target<'s>,
        ended: Option<&'s Ended>,
        dropped: bool,
        /// The cookie was refused rather than naming a session that is gone.
        refused: bool,
    },
    /// Apply the changes and a touch to the stored session, only if it still lives. `record`
    /// when it was loaded, to re-issue the id when that is due. `writes`: the handler changed
    /// something (else only the activity time is written), so a session gone meanwhile loses it.
    Update {
        backend: &'s StoreBackend,
        id: &'s SessionId,
        record: Option<&'s mut Record>,
        changes: &'s mut ChangeSet,
        reissue: bool,
        writes: bool,
    },
    /// Move the stored session to a new id, with the changes.
    Rotate {
        backend: &'s StoreBackend,
        id: &'s SessionId,
        record: &'s mut Record,
        changes: &'s mut ChangeSet,
    },
    /// Seal the client-side session again: changes, a due touch, a rotation, or a stale key.
    Seal {
        codec: &'s dyn CookieCodec,
        id: &'s SessionId,
        record: &'s mut Record,
        changes: &'s mut ChangeSet,
        rotate: bool,
        /// The request's values of the codec's header, the cookie the session came in.
        presented: &'s [http::HeaderValue],
        /// Nothing changed and no touch is due: the cookie came under an older key and only
        /// needs signing again ([`CookieCodec::resign`], else sealed again).
        resign_only: bool,
    },
}

/// The next step of a commit.
pub(super) enum Step<'s> {
    /// The record is needed first (a rotation or a persistence change re-issues the cookie,
    /// whose lifetime the record holds; a client-side session must be opened to be changed):
    /// load or open it, then plan again.
    Load,
    Commit(Commit<'s>),
}

impl Step<'_> {
    /// Whether the commit does nothing at all.
    pub(super) fn is_nothing(&self) -> bool {
        matches!(self, Step::Commit(Commit::Nothing))
    }
}

/// Decides the commit of `state`. `now` is asked only when an activity write may be due, so a
/// request that never used its session does not read the clock.
pub(super) fn plan<'s>(
    shared: &Shared,
    state: &'s mut RequestState,
    now: impl FnOnce() -> Timestamp,
) -> Step<'s> {
    let RequestState {
        phase,
        changes,
        rotate,
        reissue,
        touched_in_store,
        forwarded,
        forced,
        request,
        revocation_check: _,
    } = state;
    let request = &*request;
    // A session reached through a forward pointer was just rotated by a concurrent request:
    // that rotation stands for this one's (`RequestState::forwarded`).
    let rotate = *rotate && !*forwarded;
    let (touched_in_store, forced) = (*touched_in_store, *forced);
    let save = forced == Forced::Save;
    // A forced save hands the cookie out again, as a re-issue does.
    let reissue = *reissue || save;
    // A change of the signed-in user rotates the id (against fixation: an id planted before
    // sign-in never becomes the signed-in one), unless the app opted out.
    let forwarded = *forwarded;
    let user_changes = |record: &Record| {
        shared.config.rotate_on_sign_in
            && !forwarded
            && changes
                .user
                .as_ref()
                .is_some_and(|user| *user != record.user)
    };
    let sets_user = shared.config.rotate_on_sign_in && changes.user.is_some();
    let unchanged = changes.is_empty() && !rotate && forced == Forced::Nothing;
    let Some(phase) = phase else {
        // Nobody looked at the session.
        return Step::Commit(Commit::Nothing);
    };
    let commit = match phase {
        Phase::Store { backend, at } => {
            let renews_on_write = backend.ids.renews_on_write();
            match at {
                StorePhase::Fresh(fresh) => {
                    fresh_session(Target::Store(backend), fresh, changes, request, save)
                }
                // The handler was told (an increment answered `Gone`); writes it made since
                // are lost.
                StorePhase::Interrupted => Commit::Remove {
                    target: Target::Store(backend),
                    ended: None,
                    dropped: !unchanged,
                    refused: false,
                },
                StorePhase::Unloaded { id } => {
                    // A session in takeover moves (a rotation) once the handler used it.
                    let rotate = rotate || backend.ids.takeover(id).is_some();
                    // Whether the user changes needs the record.
                    let needs_record = rotate
                        || sets_user
                        || save
                        || changes.persistent.is_some()
                        // A persistent cookie's Max-Age follows the absolute deadline, and
                        // the lifetime counts from the creation time only the record knows.
                        || changes.lifetime.is_some()
                        // Whether a sign-in ends an anonymous timeout needs the record's.
                        || (matches!(changes.user, Some(Some(_)))
                            && shared.anonymous_idle_timeout().is_some())
                        || (renews_on_write && (touched_in_store || !unchanged))
                        // Whether the changes leave the session empty, which then ends.
                        || (backend.ids.ends_emptied() && !unchanged);
                    // A validity hook must accept the session before a write keeps it alive.
                    let checks_validity = shared.hooks.validity_check.is_some() && !unchanged;
                    if needs_record || checks_validity {
                        return Step::Load;
                    } else if unchanged {
                        Commit::Nothing
                    } else {
                        Commit::Update {
                            backend,
                            id,
                            record: None,
                            changes,
                            reissue: false,
                            writes: true,
                        }
                    }
                }
                StorePhase::Existing { id, record } => {
                    let rotate =
                        rotate || user_changes(record) || backend.ids.takeover(id).is_some();
                    let unchanged = unchanged && !rotate;
                    let touch_due = !touched_in_store && shared.touch_due(record, now());
                    if unchanged && !touch_due {
                        if touched_in_store && renews_on_write {
                            Commit::Reissue {
                                backend,
                                id,
                                record,
                                renew: true,
                            }
                        } else if reissue {
                            Commit::Reissue {
                                backend,
                                id,
                                record,
                                renew: false,
                            }
                        } else {
                            Commit::Nothing
                        }
                    } else if rotate {
                        Commit::Rotate {
                            backend,
                            id,
                            record,
                            changes,
                        }
                    } else {
                        Commit::Update {
                            backend,
                            id,
                            record: Some(record),
                            changes,
                            reissue,
                            writes: !unchanged,
                        }
                    }
                }
            }
        }
        Phase::Cookie { codec, at } => match at {
            CookiePhase::Sealed if unchanged => Commit::Nothing,
            CookiePhase::Sealed => return Step::Load,
            CookiePhase::Fresh(fresh) => {
                fresh_session(Target::Cookie(&**codec), fresh, changes, request, save)
            }
            CookiePhase::Existing { id, record } => {
                let rotate = rotate || user_changes(record);
                let touch_due = shared.touch_due(record, now());
                if unchanged && !reissue && !touch_due {
                    Commit::Nothing
                } else {
                    Commit::Seal {
                        codec: &**codec,
                        id,
                        record,
                        changes,
                        rotate,
                        presented: request.id_headers.as_slice(),
                        // Only a cookie from an older key to sign again.
                        resign_only: unchanged && !rotate && !touch_due,
                    }
                }
            }
        },
    };
    Step::Commit(commit)
}

/// A request without a live session: create one if the changes hold something (a sign-out of a
/// visitor without a session holds nothing: no row, no cookie) or the handler forced a save,
/// else end what must end.
fn fresh_session<'s>(
    target: Target<'s>,
    fresh: &'s Fresh,
    changes: &'s mut ChangeSet,
    request: &'s RequestFacts,
    save: bool,
) -> Commit<'s> {
    let holds_something = save
        || changes
            .keys
            .values()
            .any(|change| matches!(change, KeyChange::Set(_)))
        || !changes.operations.is_empty()
        || matches!(changes.user, Some(Some(_)));
    let ended = fresh.ended.as_ref();
    if holds_something {
        Commit::Create {
            target,
            ended,
            changes,
            request,
        }
    } else if ended.is_some() || fresh.clear_cookie {
        Commit::Remove {
            target,
            ended,
            dropped: false,
            refused: fresh.refused,
        }
    } else {
        Commit::Nothing
    }
}
