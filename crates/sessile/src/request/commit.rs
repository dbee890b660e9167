//! Carries a commit plan out: at most one store operation, and the headers that tell the client.

use tracing::Instrument;

use crate::change::{ChangeSet, Forward, KeyChange};
use crate::codec::HeaderList;
use crate::document::Operation as DocumentOperation;
use crate::events::Event;
use crate::id::SessionId;
use crate::limit::UserLimit;
use crate::record::{Device, Record, SessionData};
use crate::store::{
    CreateOutcome, Lookup, RotateOutcome, StoreError, UpdateOutcome, PER_USER_LIMIT,
};
use crate::telemetry::{Committed, Operation};
use crate::time::Timestamp;

use super::device::device;
use super::manager::Stored;
use super::plan::{plan, Commit, Step, Target};
use super::state::{Ended, Found, RequestState};
use super::{CommitOutcome, ResponseHeaders, SessionError, Shared, StoreBackend};

/// How many fresh ids a commit tries when the store reports a collision. With 256-bit ids a
/// second try never happens outside tests that force it.
const ID_ATTEMPTS: usize = 3;
/// How many forward pointers one lookup follows: a session rotated again within the grace
/// window leaves a chain; longer chains than this do not come from real traffic.
const MAX_FORWARDS: usize = 4;

impl Shared {
    /// The end-of-request work: the plan for `state`, carried out.
    /// Commits a request's session in a `sessile.commit` span whose `outcome` is the
    /// [`CommitOutcome`] (or `error`); the store call inside has its own span.
    pub(super) async fn commit(
        &self,
        state: RequestState,
    ) -> Result<ResponseHeaders, SessionError> {
        let span = tracing::debug_span!(
            "sessile.commit",
            store = self.telemetry.store,
            outcome = tracing::field::Empty,
        );
        if span.is_disabled() {
            return self.commit_steps(state).await;
        }
        let result = self.commit_steps(state).instrument(span.clone()).await;
        span.record(
            "outcome",
            result
                .as_ref()
                .map_or("error", |headers| headers.outcome().name()),
        );
        result
    }

    async fn commit_steps(&self, mut state: RequestState) -> Result<ResponseHeaders, SessionError> {
        let now = self.now();
        if state.changes.user.is_some() {
            // Signing in records the device that signed in.
            state.changes.device = Some(device(&state.request, self.config.record_ip));
        }
        let csrf_key = self.config.csrf_secret_key.as_str();
        let mut follows = 0;
        loop {
            // A new id or a new user gets a new CSRF secret: tokens rendered before sign-in (or
            // for the previous user) stop verifying. Setting the user the session already has
            // changes nothing. Where the stored user is not known and the plan would not load
            // it, the secret goes anyway. One the handler set this request stays.
            let renew = state
                .identity_changes()
                .unwrap_or_else(|| !matches!(plan(self, &mut state, || now), Step::Load));
            if renew && state.changes.decided_value(csrf_key).is_none() {
                state.changes.remove(csrf_key);
            }
            if state.leaves_session_empty() {
                state.destroy(self);
            }
            match plan(self, &mut state, || now) {
                Step::Load => {
                    // Loading replaces the unloaded or sealed phase, so the next plan differs.
                    if let Some((backend, id)) = state.open_or_pending_load(self, now) {
                        let found = self.load(&backend, &id, now).await?;
                        state.loaded(&id, found);
                    }
                    if self
                        .check_revocation(state.revocation_check.take(), now)
                        .await?
                    {
                        state.revoked(self);
                    }
                }
                Step::Commit(commit) => match self.carry_out(commit, now).await? {
                    Carried::Done(headers) => return Ok(headers),
                    // The session was rotated by a concurrent request: commit to where it went.
                    Carried::Forwarded { from, found } if follows < MAX_FORWARDS => {
                        follows += 1;
                        state.found(&from, found);
                    }
                    Carried::Forwarded { .. } => return Err(SessionError::Gone),
                    // An undecodable record is no session, as on a load: plan again from a
                    // fresh session (the changes make a new one, or the dead cookie goes).
                    Carried::Corrupt(id) => state.found_corrupt(self, &id),
                },
            }
        }
    }

    /// Loads the record of `id`, emitting the event that tells what was found (loaded, expired
    /// and by which deadline, missing, refused by the hook, corrupt); `None` when there is no
    /// live session the validity hook accepts. One store call, as a plain load, unless the id
    /// was rotated less than the rotation grace ago: then the session it moved to is loaded
    /// too (`Found::forwarded_to`).
    pub(super) async fn load(
        &self,
        backend: &StoreBackend,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<Found>, SessionError> {
        self.lookup_following(backend, id, now, true).await
    }

    /// Where the session `id`, which a write just found gone, went: the live session a
    /// rotation moved it to less than the rotation grace ago, or `None` (it ended, and the
    /// caller reports that as before; no event here).
    pub(super) async fn follow(
        &self,
        backend: &StoreBackend,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<Found>, SessionError> {
        Ok(self
            .lookup_following(backend, id, now, false)
            .await?
            .filter(|found| found.forwarded_to.is_some()))
    }

    /// Looks `id` up, following up to [`MAX_FORWARDS`] forward pointers, each opened with the
    /// id before it (only a holder of the old id learns the new one). Events only with
    /// `report`, and then for the id the search ended on.
    async fn lookup_following(
        &self,
        backend: &StoreBackend,
        id: &SessionId,
        now: Timestamp,
        report: bool,
    ) -> Result<Option<Found>, SessionError> {
        let events = &self.config.events;
        let emit = |event: Event| {
            if report {
                events.emit(&event);
            }
        };
        let mut current = id.clone();
        for _ in 0..=MAX_FORWARDS {
            let forwarded_to = (current != *id).then(|| current.clone());
            match self
                .call(
                    Operation::Lookup,
                    backend.store.lookup(&current.store_key(), now),
                )
                .await
            {
                Ok(Lookup::Live(record)) if self.is_valid(&record) => {
                    emit(Event::Loaded {
                        tag: current.log_tag(),
                    });
                    return Ok(Some(Found {
                        record: Box::new(record),
                        forwarded_to,
                    }));
                }
                Ok(Lookup::Live(_)) => emit(Event::Invalidated {
                    tag: current.log_tag(),
                }),
                Ok(Lookup::Expired(deadline)) => emit(Event::Expired {
                    tag: current.log_tag(),
                    deadline,
                }),
                Ok(Lookup::Forwarded { to, sealed_id }) => {
                    if let Some(next) = current.open_successor(&sealed_id, &to) {
                        current = next;
                        continue;
                    }
                    // A pointer that does not open with this id is nobody's way in.
                    emit(Event::Missed {
                        tag: current.log_tag(),
                    });
                }
                Ok(Lookup::Missing) => emit(Event::Missed {
                    tag: current.log_tag(),
                }),
                Err(StoreError::Corrupt(_)) => emit(Event::Corrupt {
                    tag: current.log_tag(),
                }),
                Err(error) => return Err(error.into()),
            }
            return Ok(None);
        }
        // A chain longer than any grace window allows: treated as the end of the session.
        emit(Event::Missed {
            tag: current.log_tag(),
        });
        Ok(None)
    }

    async fn carry_out(&self, commit: Commit<'_>, now: Timestamp) -> Result<Carried, SessionError> {
        let events = &self.config.events;
        let mut out = ResponseHeaders::default();
        match commit {
            // `out.outcome` stays `Unchanged` for these three.
            Commit::Nothing => {}
            Commit::Reissue {
                backend,
                id,
                record,
                renew: true,
            } => {
                record.idle_deadline = self
                    .touch(None, now)
                    .idle_deadline_for(record.idle_timeout)
                    .min(record.absolute_deadline);
                out.headers.extend(backend.ids.issue(id, record, now));
            }
            Commit::Reissue {
                backend,
                id,
                record,
                renew: false,
            } => out.headers.extend(backend.ids.reissue(id, record, now)),
            Commit::Create {
                target,
                ended,
                changes,
                request,
            } => {
                self.end(&target, ended, now).await?;
                let device = device(request, self.config.record_ip);
                let mut record = self.new_record(now, device);
                changes.resolve_lifetime(now);
                self.end_anonymous_timeout(changes, record.idle_timeout);
                changes.apply_to(&mut record)?;
                if matches!(target, Target::Store(_)) {
                    self.check_size(&record.data)?;
                }
                // The deadline follows the timeout the changes left the session with (an
                // anonymous one, a remembered one, or the manager's after a sign-in).
                record.idle_deadline = self
                    .touch(None, now)
                    .idle_deadline_for(record.idle_timeout)
                    .min(record.absolute_deadline);
                self.limit_sign_in(changes, Some(None));
                let (id, headers) = self
                    .create(&target, &record, changes.user_limit.as_ref(), now)
                    .await?;
                out.stored = Some(match target {
                    Target::Store(_) => Stored::Key(id.store_key()),
                    Target::Cookie(_) => Stored::Sealed(Box::new(record.data)),
                });
                events.emit(&Event::Created { tag: id.log_tag() });
                // A new session has nobody signed in before its first commit.
                self.user_changed(&id, Some(None), changes);
                out.headers.extend(headers);
                out.outcome = CommitOutcome::Saved;
            }
            Commit::Remove {
                target,
                ended,
                dropped,
                refused,
            } => {
                self.end(&target, ended, now).await?;
                let headers = if ended.is_some() {
                    if target.clears_destroyed() {
                        target.removal()
                    } else {
                        HeaderList::new()
                    }
                } else if refused {
                    target.refusal()
                } else if target.clears_dead() {
                    target.removal()
                } else {
                    HeaderList::new()
                };
                out.headers.extend(headers);
                if ended.is_some() && self.config.clear_site_data_on_destroy {
                    out.headers.push((
                        http::HeaderName::from_static("clear-site-data"),
                        http::HeaderValue::from_static("\"cookies\""),
                    ));
                }
                out.outcome = ended_or_dropped(dropped);
            }
            Commit::Update {
                backend,
                id,
                record,
                changes,
                reissue,
                writes,
            } => {
                match record.as_deref() {
                    Some(record) => {
                        changes.resolve_lifetime(record.created_at);
                        self.end_anonymous_timeout(changes, record.idle_timeout);
                        self.check_size_after(&record.data, changes)?;
                    }
                    None => self.check_written_size(changes)?,
                }
                let before = record.as_deref().map(|record| record.user.as_deref());
                self.limit_sign_in(changes, before);
                changes.touch = Some(self.touch(None, now));
                // Hashed once: the key also names the session for `Session::stored_data`.
                let key = id.store_key();
                let answer = match self
                    .call(Operation::Update, backend.store.update(&key, changes, now))
                    .await
                {
                    Err(StoreError::Operation(refused)) => return Err(refused.into()),
                    answer => answer,
                };
                match corrupt_or(answer, id)? {
                    Err(corrupt) => return Ok(corrupt),
                    Ok(UpdateOutcome::Refused) => return Err(SessionError::TooManySessions),
                    Ok(UpdateOutcome::Applied) => {
                        self.telemetry.committed(Committed::Applied);
                        out.outcome = CommitOutcome::Saved;
                        out.stored = Some(Stored::Key(key));
                        let before = record.as_ref().map(|record| record.user.as_deref());
                        self.user_changed(id, before, changes);
                        if let Some(record) = record {
                            let persistence_changed = changes
                                .persistent
                                .is_some_and(|persistent| persistent != record.persistent)
                                || changes.absolute_deadline.is_some_and(|deadline| {
                                    record.persistent && deadline != record.absolute_deadline
                                });
                            if changes.apply_to(record).is_err() {
                                // The store applied the operations to data this request's
                                // copy no longer matches; the cookie needs only the metadata.
                                changes.apply_metadata_to(record);
                            }
                            if reissue || persistence_changed || backend.ids.renews_on_write() {
                                out.headers.extend(backend.ids.issue(id, record, now));
                            }
                        }
                    }
                    Ok(UpdateOutcome::Gone) => {
                        if let Some(found) = self.follow(backend, id, now).await? {
                            return Ok(Carried::Forwarded {
                                from: id.clone(),
                                found,
                            });
                        }
                        events.emit(&Event::Interrupted { tag: id.log_tag() });
                        out.headers.extend(backend.ids.removal());
                        out.outcome = ended_or_dropped(writes);
                    }
                }
            }
            Commit::Rotate {
                backend,
                id,
                record,
                changes,
            } => {
                changes.resolve_lifetime(record.created_at);
                self.end_anonymous_timeout(changes, record.idle_timeout);
                changes.touch = Some(self.touch(None, now));
                let before = record.user.clone();
                self.limit_sign_in(changes, Some(before.as_deref()));
                // Rotation loaded the record: its operations become plain key changes against
                // it, which every store's rotation applies.
                changes.resolve_operations(&record.data)?;
                changes.apply_to(record)?;
                self.check_size(&record.data)?;
                let from = id.store_key();
                let mut outcome = Err(SessionError::IdCollisions);
                // A session in takeover moves to the one id its codec names (the store makes
                // concurrent moves of one session meet there); others get a fresh id.
                let successor = backend.ids.takeover(id);
                for _ in 0..ID_ATTEMPTS {
                    let to = successor.clone().unwrap_or_else(|| backend.ids.generate());
                    let to_key = to.store_key();
                    // A takeover's concurrent moves meet at the one successor by themselves; a
                    // fresh id leaves a forward pointer for the rotation grace.
                    changes.forward = match successor {
                        Some(_) => None,
                        None => self.forward(id, &to, now),
                    };
                    let answer = self
                        .call(
                            Operation::Rotate,
                            backend.store.rotate(&from, &to_key, changes, now),
                        )
                        .await;
                    match corrupt_or(answer, id)? {
                        Err(corrupt) => return Ok(corrupt),
                        Ok(RotateOutcome::Rotated) => {
                            outcome = Ok(Some((to, to_key)));
                            break;
                        }
                        Ok(RotateOutcome::Gone) => {
                            outcome = Ok(None);
                            break;
                        }
                        Ok(RotateOutcome::Collision) => continue,
                        Ok(RotateOutcome::Refused) => return Err(SessionError::TooManySessions),
                    }
                }
                match outcome? {
                    Some((to, to_key)) => {
                        events.emit(&Event::Rotated {
                            from: id.log_tag(),
                            to: to.log_tag(),
                        });
                        self.user_changed(&to, Some(before.as_deref()), changes);
                        out.headers.extend(backend.ids.issue(&to, record, now));
                        out.outcome = CommitOutcome::Saved;
                        out.stored = Some(Stored::Key(to_key));
                    }
                    None => {
                        // A concurrent request rotated it first: this rotation's changes (a
                        // sign-in, say) go to where it went.
                        if let Some(found) = self.follow(backend, id, now).await? {
                            return Ok(Carried::Forwarded {
                                from: id.clone(),
                                found,
                            });
                        }
                        events.emit(&Event::Interrupted { tag: id.log_tag() });
                        out.headers.extend(backend.ids.removal());
                        // A rotation is a write: a sign-in, say, that did not happen.
                        out.outcome = CommitOutcome::Dropped;
                    }
                }
            }
            Commit::Seal {
                codec,
                id,
                record,
                changes,
                rotate,
                presented,
                resign_only,
            } => {
                if let Some(headers) = resign_only.then(|| codec.resign(presented)).flatten() {
                    out.headers.extend(headers);
                    return Ok(Carried::Done(out));
                }
                changes.resolve_lifetime(record.created_at);
                self.end_anonymous_timeout(changes, record.idle_timeout);
                changes.touch = Some(self.touch(None, now));
                let before = record.user.clone();
                self.limit_sign_in(changes, Some(before.as_deref()));
                if changes.user_limit.is_some() {
                    return Err(StoreError::Unsupported(PER_USER_LIMIT).into());
                }
                changes.apply_to(record)?;
                let rotated;
                let id = if rotate {
                    rotated = SessionId::generate();
                    events.emit(&Event::Rotated {
                        from: id.log_tag(),
                        to: rotated.log_tag(),
                    });
                    &rotated
                } else {
                    id
                };
                out.headers
                    .extend(codec.reseal(presented, id, record, now)?);
                out.outcome = CommitOutcome::Saved;
                out.stored = Some(Stored::Sealed(Box::new(record.data.clone())));
                self.user_changed(id, Some(before.as_deref()), changes);
            }
        }
        Ok(Carried::Done(out))
    }

    /// Ends the session this request destroyed, if any: deleted from a server-side store (a
    /// client-side one ends with its cookie). Destroying a session someone was signed in on
    /// signs them out.
    async fn end(
        &self,
        target: &Target<'_>,
        ended: Option<&Ended>,
        now: Timestamp,
    ) -> Result<(), SessionError> {
        let Some(Ended { id, user, loaded }) = ended else {
            return Ok(());
        };
        if let Target::Store(backend) = target {
            let key = id.store_key();
            if !*loaded && !self.config.rotation_grace.is_zero() {
                // Ending an id this request never loaded, which a concurrent request may have
                // rotated less than the grace ago, ends the session it moved to: a signed-out
                // session never lives on through the grace window. The pointer's keys suffice;
                // no id is opened. (A session loaded live here is the one that ends.)
                let mut at = key.clone();
                for _ in 0..MAX_FORWARDS {
                    match self
                        .call(Operation::Lookup, backend.store.lookup(&at, now))
                        .await
                    {
                        Ok(Lookup::Forwarded { to, .. }) => {
                            self.call(Operation::Delete, backend.store.delete(&to))
                                .await?;
                            at = to;
                        }
                        Ok(_) | Err(StoreError::Corrupt(_)) => break,
                        Err(error) => return Err(error.into()),
                    }
                }
            }
            self.call(Operation::Delete, backend.store.delete(&key))
                .await?;
        }
        let events = &self.config.events;
        events.emit(&Event::Destroyed { tag: id.log_tag() });
        if let Some(user) = user {
            events.emit(&Event::SignedOut {
                tag: id.log_tag(),
                user: Some(user.clone()),
            });
        }
        Ok(())
    }

    /// The forward pointer a rotation from `from` to `to` leaves, or none without a grace.
    fn forward(&self, from: &SessionId, to: &SessionId, now: Timestamp) -> Option<Forward> {
        let grace = self.config.rotation_grace;
        (!grace.is_zero()).then(|| Forward::new(from.seal_successor(to), now + grace))
    }

    /// Emits the sign-in or sign-out a committed change of user made on session `id`. `before`
    /// is who was signed in (`Some(None)`: nobody), `None` when the request did not read it.
    fn user_changed(&self, id: &SessionId, before: Option<Option<&str>>, changes: &ChangeSet) {
        let Some(after) = &changes.user else {
            return;
        };
        if before == Some(after.as_deref()) {
            return;
        }
        let event = match (after, before) {
            (Some(user), _) => Event::SignedIn {
                tag: id.log_tag(),
                user: user.clone(),
            },
            // Nobody was signed in: clearing the user signs nobody out.
            (None, Some(None)) => return,
            (None, before) => Event::SignedOut {
                tag: id.log_tag(),
                user: before.flatten().map(str::to_owned),
            },
        };
        self.config.events.emit(&event);
    }

    /// Puts the manager's per-user limit on the change set when it signs a user in who was
    /// not signed in on the session before (`before`: who was, `None` when unknown, as in
    /// [`Shared::user_changed`]): setting the user a session already has counts nothing.
    fn limit_sign_in(&self, changes: &mut ChangeSet, before: Option<Option<&str>>) {
        changes.user_limit = match &changes.user {
            Some(Some(user)) if before != Some(Some(user.as_str())) => {
                self.config.max_sessions_per_user
            }
            _ => None,
        };
    }

    /// A sign-in ends the anonymous idle timeout the session was created with (the one a
    /// session has as its own while nobody is signed in), unless the handler set a timeout in
    /// this request. Only that one: a timeout the app gave the session, or a Node session's
    /// own `maxAge`, is kept.
    fn end_anonymous_timeout(&self, changes: &mut ChangeSet, own: Option<std::time::Duration>) {
        let signs_in = matches!(changes.user, Some(Some(_)));
        if signs_in
            && changes.idle_timeout.is_none()
            && own.is_some()
            && own == self.anonymous_idle_timeout()
        {
            changes.idle_timeout = Some(None);
        }
    }

    /// [`SessionError::SessionTooLarge`] when `data` is over the configured bound.
    fn check_size(&self, data: &SessionData) -> Result<(), SessionError> {
        let Some(limit) = self.config.max_session_bytes else {
            return Ok(());
        };
        let size = json_size(data);
        if size > limit {
            return Err(SessionError::SessionTooLarge { size, limit });
        }
        Ok(())
    }

    /// [`Shared::check_size`] of `data` after the data part of `changes`, when they change
    /// any (a commit of metadata or a touch alone leaves the size as it was).
    fn check_size_after(
        &self,
        data: &SessionData,
        changes: &ChangeSet,
    ) -> Result<(), SessionError> {
        let changes_data =
            changes.cleared || !changes.keys.is_empty() || !changes.operations.is_empty();
        if self.config.max_session_bytes.is_none() || !changes_data {
            return Ok(());
        }
        let mut after = data.clone();
        // Operations that do not apply are the store's to refuse, with their own error.
        match changes.apply_data_to(&mut after) {
            Ok(()) => self.check_size(&after),
            Err(_) => Ok(()),
        }
    }

    /// The bound on a write that never read the session: what it writes (each set key and
    /// value, each operation's values) must fit, since the data it lands on is unknown.
    fn check_written_size(&self, changes: &ChangeSet) -> Result<(), SessionError> {
        let Some(limit) = self.config.max_session_bytes else {
            return Ok(());
        };
        let keys: usize = changes
            .keys
            .iter()
            .map(|(key, change)| match change {
                KeyChange::Set(value) => key.len() + json_size(value),
                KeyChange::Remove => 0,
            })
            .sum();
        let operations: usize = changes.operations.iter().map(written_size).sum();
        let size = keys + operations;
        if size > limit {
            return Err(SessionError::SessionTooLarge { size, limit });
        }
        Ok(())
    }

    fn new_record(&self, now: Timestamp, device: Device) -> Record {
        Record {
            data: Default::default(),
            user: None,
            created_at: now,
            last_seen: now,
            idle_deadline: now + self.config.idle_timeout,
            absolute_deadline: now + self.config.absolute_lifetime,
            persistent: false,
            device,
            // Nobody is signed in on a new record yet; a sign-in in its first request takes
            // this back (`commit_steps`).
            idle_timeout: self.anonymous_idle_timeout(),
        }
    }

    /// Stores a new record under a fresh id and returns the headers that hand it out; a
    /// signed-in one within `limit`, when the manager has a per-user limit.
    async fn create(
        &self,
        target: &Target<'_>,
        record: &Record,
        limit: Option<&UserLimit>,
        now: Timestamp,
    ) -> Result<(SessionId, HeaderList), SessionError> {
        match target {
            // A client-side session has no store to count the user's sessions in.
            Target::Cookie(_) if limit.is_some() => {
                Err(StoreError::Unsupported(PER_USER_LIMIT).into())
            }
            Target::Cookie(codec) => {
                let id = SessionId::generate();
                let headers = codec.seal(&id, record, now)?;
                Ok((id, headers))
            }
            Target::Store(backend) => {
                for _ in 0..ID_ATTEMPTS {
                    let id = backend.ids.generate();
                    let key = id.store_key();
                    let created = match limit {
                        Some(limit) => {
                            self.call(
                                Operation::Create,
                                backend.store.create_within_limit(&key, record, limit),
                            )
                            .await?
                        }
                        None => {
                            self.call(Operation::Create, backend.store.create(&key, record))
                                .await?
                        }
                    };
                    match created {
                        CreateOutcome::Created => {
                            let headers = backend.ids.issue(&id, record, now);
                            return Ok((id, headers));
                        }
                        CreateOutcome::Collision => {
                            self.telemetry.committed(Committed::Collision);
                            continue;
                        }
                        CreateOutcome::Refused => return Err(SessionError::TooManySessions),
                    }
                }
                Err(SessionError::IdCollisions)
            }
        }
    }
}

/// What a document operation can add to the data: the values it writes.
fn written_size(operation: &DocumentOperation) -> usize {
    match operation {
        DocumentOperation::Set { value, .. } => json_size(value),
        DocumentOperation::Push { values, .. } | DocumentOperation::AddToSet { values, .. } => {
            values.iter().map(json_size).sum()
        }
        _ => 0,
    }
}

/// The length of `value`'s JSON, counted without building it.
fn json_size(value: &impl serde::Serialize) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // JSON values and maps of them always serialize; a failure would only undercount.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// A session found gone: the request's writes are lost (`dropped`), or it had none.
fn ended_or_dropped(dropped: bool) -> CommitOutcome {
    if dropped {
        CommitOutcome::Dropped
    } else {
        CommitOutcome::Ended
    }
}

/// How far a commit plan got.
enum Carried {
    /// Carried out: the headers that tell the client.
    Done(ResponseHeaders),
    /// The store found the session's record undecodable: the request has no session after all.
    Corrupt(SessionId),
    /// The session `from` was gone, rotated by a concurrent request less than the rotation
    /// grace ago: plan again on the session it was `found` under.
    Forwarded { from: SessionId, found: Found },
}

/// A store's answer about the session `id`, with an undecodable record set apart (`Err` inside)
/// so the commit can plan again instead of failing the request on every try.
fn corrupt_or<T>(
    answer: Result<T, StoreError>,
    id: &SessionId,
) -> Result<Result<T, Carried>, StoreError> {
    match answer {
        Err(StoreError::Corrupt(_)) => Ok(Err(Carried::Corrupt(id.clone()))),
        answer => answer.map(Ok),
    }
}

impl Target<'_> {
    fn removal(&self) -> HeaderList {
        match self {
            Target::Store(backend) => backend.ids.removal(),
            Target::Cookie(codec) => codec.removal(),
        }
    }

    fn refusal(&self) -> HeaderList {
        match self {
            Target::Store(backend) => backend.ids.refusal(),
            Target::Cookie(codec) => codec.refusal(),
        }
    }

    fn clears_dead(&self) -> bool {
        match self {
            Target::Store(backend) => backend.ids.clears_dead(),
            Target::Cookie(codec) => codec.clears_dead(),
        }
    }

    fn clears_destroyed(&self) -> bool {
        match self {
            Target::Store(backend) => backend.ids.clears_destroyed(),
            Target::Cookie(_) => true,
        }
    }
}
