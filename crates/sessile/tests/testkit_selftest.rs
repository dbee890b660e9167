//! The conformance suite checked against itself: stores with one deliberate flaw each must fail
//! the case that guards against that flaw, and the `corrupt = ...` form of the macro must work.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sessile::document::Operation;
use sessile::limit::{LimitDecision, UserLimit};
use sessile::store::{Lookup, ScanPage, PER_USER_LIMIT};
use sessile::testkit::{cases, node_cases};
use sessile::{
    ChangeSet, CreateOutcome, Deadline, IncrementOutcome, MemoryStore, Record, RotateOutcome,
    Store, StoreError, StoreKey, Timestamp, Touch, UpdateOutcome,
};

/// The one guarantee a [`FlawedStore`] breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    None,
    /// Returns records whatever their deadlines.
    IgnoresExpiry,
    /// `update` of a missing record inserts it (the peers' upsert).
    Upserts,
    /// Treats numeric strings as integers.
    LenientIncrement,
    /// Lists a user's sessions newest first.
    NewestFirst,
    /// `delete_expired` ignores its limit.
    UnboundedCleanup,
    /// Writes whole snapshots: every concurrent update reads before any writes.
    LastWriterWins,
    /// Reports undecodable records as absent.
    HidesCorruption,
    /// Fails writes to undecodable records with a backend error.
    FailsWritesToCorruptRecords,
    /// Keeps no per-user index, no session's own lifetime and no forward pointer, as Node
    /// layouts don't: not a flaw for the Node-layout suite.
    NoUserIndex,
    /// A touch that never loaded the record (a touch-only update, an increment) moves the
    /// idle deadline by the touch's default, ignoring the session's own idle timeout.
    BlindTouchIgnoresOwnTimeout,
    /// `rotate` leaves no forward pointer under the old key: no rotation grace.
    NoForwardPointer,
    /// `lookup` is the trait's default: an expired record is `Missing`, as on Redis. Not a flaw
    /// for a store that does not declare `keeps_expired`.
    ForgetsExpiry,
    /// `lookup` blames the idle deadline for every expiry.
    MisnamesDeadline,
    /// `count_live` counts every record, expired ones too.
    CountsExpired,
    /// `scan` loses the last session of every full page (an off-by-one cursor).
    ScanSkipsPageEnds,
    /// `list_user_sessions` loses the last session of every page but the last (an off-by-one
    /// cursor).
    PageDropsLast,
    /// Applies a `push` by reading the record and writing it back whole, not atomically: every
    /// concurrent push reads before any writes.
    PushReadsThenWrites,
    /// Applies a per-user limit by counting the user's sessions, then writing, in two steps:
    /// every concurrent sign-in counts before any writes.
    NonAtomicLimit,
}

/// A memory store with one flaw, and a set of keys "corrupted" by the test hook.
struct FlawedStore {
    inner: MemoryStore,
    flaw: Flaw,
    corrupted: Mutex<HashSet<StoreKey>>,
    readers_before_writing: tokio::sync::Barrier,
}

impl FlawedStore {
    fn new(flaw: Flaw) -> Self {
        Self {
            inner: MemoryStore::new(),
            flaw,
            corrupted: Mutex::default(),
            // The concurrent-updates case runs 200 writers.
            readers_before_writing: tokio::sync::Barrier::new(200),
        }
    }

    fn corrupt(&self, key: StoreKey) {
        self.corrupted.lock().unwrap().insert(key);
    }

    /// What a store without the rule leaves after a blind touch: the idle deadline the touch
    /// carries for a session without its own timeout.
    async fn forget_own_timeout(
        &self,
        key: &StoreKey,
        touch: Touch,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(mut record) = self.inner.load(key, now).await? {
            record.idle_deadline = touch.idle_deadline.min(record.absolute_deadline);
            self.inner.delete(key).await?;
            self.inner.create(key, &record).await?;
        }
        Ok(())
    }

    /// The flawed limit: counts (and evicts), waits for every concurrent sign-in to have
    /// counted, and only then lets the caller write. Whether the sign-in may go on.
    async fn admit_in_two_steps(
        &self,
        user: &str,
        limit: &UserLimit,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let page = self
            .inner
            .list_user_sessions(user, now, None, u32::MAX)
            .await?;
        let others = page
            .sessions
            .into_iter()
            .map(|summary| (summary.last_seen, summary.key))
            .collect();
        let decision = limit.decide(others);
        self.readers_before_writing.wait().await;
        Ok(match decision {
            LimitDecision::Refuse => false,
            LimitDecision::Admit { evict } => {
                for key in &evict {
                    self.inner.delete(key).await?;
                }
                true
            }
        })
    }

    /// What the flawed stores do with a sign-in under a per-user limit in `update` or
    /// `rotate`: a store without a user index refuses it, the two-step one counts first (and
    /// hands the inner store the change set without the limit). `Err(None)`: refused.
    async fn limit_in_change_set(
        &self,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<Option<ChangeSet>, StoreError> {
        let (Some(Some(user)), Some(limit)) = (&changes.user, &changes.user_limit) else {
            return Ok(Some(changes.clone()));
        };
        match self.flaw {
            Flaw::NoUserIndex => Err(StoreError::Unsupported(PER_USER_LIMIT)),
            Flaw::NonAtomicLimit => {
                let admitted = self.admit_in_two_steps(user, limit, now).await?;
                let mut unlimited = changes.clone();
                unlimited.user_limit = None;
                Ok(admitted.then_some(unlimited))
            }
            _ => Ok(Some(changes.clone())),
        }
    }

    /// The backend error a write to a corrupted record gets from a store with that flaw.
    fn write_failure(&self, key: &StoreKey) -> Result<(), StoreError> {
        if self.flaw == Flaw::FailsWritesToCorruptRecords
            && self.corrupted.lock().unwrap().contains(key)
        {
            return Err(StoreError::Backend("cannot decode the row to write".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for FlawedStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        if self.corrupted.lock().unwrap().contains(key) {
            return match self.flaw {
                Flaw::HidesCorruption => Ok(None),
                _ => Err(StoreError::Corrupt("garbage written by the test".into())),
            };
        }
        let now = match self.flaw {
            Flaw::IgnoresExpiry => Timestamp::from_millis(i64::MIN),
            _ => now,
        };
        self.inner.load(key, now).await
    }

    async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
        match self.flaw {
            // What the trait's default answers, from `load` (and its flaws).
            // A store that drops expired records still answers its forward pointers.
            Flaw::ForgetsExpiry => Ok(match self.inner.lookup(key, now).await? {
                Lookup::Expired(_) => Lookup::Missing,
                other => other,
            }),
            Flaw::IgnoresExpiry | Flaw::HidesCorruption => Ok(match self.load(key, now).await? {
                Some(record) => Lookup::Live(record),
                None => Lookup::Missing,
            }),
            _ if self.corrupted.lock().unwrap().contains(key) => {
                Err(StoreError::Corrupt("garbage written by the test".into()))
            }
            Flaw::MisnamesDeadline => Ok(match self.inner.lookup(key, now).await? {
                Lookup::Expired(_) => Lookup::Expired(Deadline::Idle),
                other => other,
            }),
            _ => self.inner.lookup(key, now).await,
        }
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        self.inner.create(key, record).await
    }

    async fn create_within_limit(
        &self,
        key: &StoreKey,
        record: &Record,
        limit: &UserLimit,
    ) -> Result<CreateOutcome, StoreError> {
        match (self.flaw, &record.user) {
            (Flaw::NoUserIndex, _) => Err(StoreError::Unsupported(PER_USER_LIMIT)),
            (Flaw::NonAtomicLimit, Some(user)) => {
                if !self
                    .admit_in_two_steps(user, limit, record.last_seen)
                    .await?
                {
                    return Ok(CreateOutcome::Refused);
                }
                self.inner.create(key, record).await
            }
            _ => self.inner.create_within_limit(key, record, limit).await,
        }
    }

    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        self.write_failure(key)?;
        let Some(changes) = &self.limit_in_change_set(changes, now).await? else {
            return Ok(UpdateOutcome::Refused);
        };
        if self.flaw == Flaw::NoUserIndex && changes.sets_own_lifetime() {
            return Err(StoreError::Unsupported("a session's own lifetime"));
        }
        match self.flaw {
            Flaw::BlindTouchIgnoresOwnTimeout if changes.idle_timeout.is_none() => {
                let outcome = self.inner.update(key, changes, now).await?;
                if let Some(touch) = changes.touch {
                    self.forget_own_timeout(key, touch, now).await?;
                }
                Ok(outcome)
            }
            Flaw::Upserts if self.inner.load(key, now).await?.is_none() => {
                let touch = changes.touch.expect("the cases always touch");
                let mut record = Record::new(now, touch.idle_deadline, touch.idle_deadline);
                changes.apply_to(&mut record).expect("plain changes apply");
                self.inner.create(key, &record).await?;
                Ok(UpdateOutcome::Applied)
            }
            Flaw::LastWriterWins => {
                let Some(mut record) = self.inner.load(key, now).await? else {
                    return Ok(UpdateOutcome::Gone);
                };
                self.readers_before_writing.wait().await;
                changes.apply_to(&mut record).expect("plain changes apply");
                self.inner.delete(key).await?;
                self.inner.create(key, &record).await?;
                Ok(UpdateOutcome::Applied)
            }
            Flaw::PushReadsThenWrites
                if changes
                    .operations
                    .iter()
                    .any(|operation| matches!(operation, Operation::Push { .. })) =>
            {
                let Some(mut record) = self.inner.load(key, now).await? else {
                    return Ok(UpdateOutcome::Gone);
                };
                self.readers_before_writing.wait().await;
                changes.apply_to(&mut record)?;
                self.inner.delete(key).await?;
                self.inner.create(key, &record).await?;
                Ok(UpdateOutcome::Applied)
            }
            _ => self.inner.update(key, changes, now).await,
        }
    }

    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        self.write_failure(from)?;
        let Some(changes) = &self.limit_in_change_set(changes, now).await? else {
            return Ok(RotateOutcome::Refused);
        };
        if self.flaw == Flaw::NoUserIndex && changes.sets_own_lifetime() {
            return Err(StoreError::Unsupported("a session's own lifetime"));
        }
        if matches!(self.flaw, Flaw::NoForwardPointer | Flaw::NoUserIndex) {
            let mut changes = changes.clone();
            changes.forward = None;
            return self.inner.rotate(from, to, &changes, now).await;
        }
        self.inner.rotate(from, to, changes, now).await
    }

    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        self.write_failure(key)?;
        if self.flaw == Flaw::LenientIncrement {
            let numeric = self
                .inner
                .load(key, now)
                .await?
                .and_then(|record| record.data.get(field)?.as_str()?.parse::<i64>().ok());
            if let Some(number) = numeric {
                let mut changes = ChangeSet::default();
                changes.set(field, (number + by).into());
                changes.touch = Some(touch);
                self.inner.update(key, &changes, now).await?;
                return Ok(IncrementOutcome::Value(number + by));
            }
        }
        let outcome = self.inner.increment(key, field, by, touch, now).await?;
        if self.flaw == Flaw::BlindTouchIgnoresOwnTimeout {
            self.forget_own_timeout(key, touch, now).await?;
        }
        Ok(outcome)
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let was_corrupt = self.corrupted.lock().unwrap().remove(key);
        Ok(self.inner.delete(key).await? || was_corrupt)
    }

    async fn list_user_sessions(
        &self,
        user: &str,
        now: Timestamp,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<sessile::UserSessionsPage, StoreError> {
        if self.flaw == Flaw::NoUserIndex {
            return Err(StoreError::Unsupported("no per-user index"));
        }
        let mut page = self
            .inner
            .list_user_sessions(user, now, cursor, limit)
            .await?;
        if self.flaw == Flaw::NewestFirst {
            page.sessions.reverse();
        }
        if self.flaw == Flaw::PageDropsLast && page.next.is_some() {
            page.sessions.pop();
        }
        Ok(page)
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        if self.flaw == Flaw::NoUserIndex {
            return Err(StoreError::Unsupported("no per-user index"));
        }
        self.inner.delete_user_sessions(user, keep).await
    }

    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let limit = match self.flaw {
            Flaw::UnboundedCleanup => u32::MAX,
            _ => limit,
        };
        self.inner.delete_expired(now, limit).await
    }

    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let now = match self.flaw {
            Flaw::CountsExpired => Timestamp::from_millis(0),
            _ => now,
        };
        self.inner.count_live(now).await
    }

    async fn scan(&self, cursor: Option<&str>, limit: u32) -> Result<ScanPage, StoreError> {
        let mut page = self.inner.scan(cursor, limit).await?;
        if self.flaw == Flaw::ScanSkipsPageEnds && page.next.is_some() {
            page.sessions.pop();
        }
        Ok(page)
    }
}

async fn corrupt_hook(store: Arc<FlawedStore>, key: StoreKey) {
    store.corrupt(key);
}

/// The whole suite, corrupt case included, passes on the store without a flaw.
mod flawless {
    use super::*;

    sessile::store_conformance!(
        async { FlawedStore::new(Flaw::None) },
        corrupt = corrupt_hook,
        keeps_expired,
    );
}

/// A store that drops records at their deadline (Redis) passes the suite without
/// `keeps_expired`.
mod drops_expired {
    use super::*;

    sessile::store_conformance!(async { FlawedStore::new(Flaw::ForgetsExpiry) });
}

/// The Node-layout suite, with every option, passes on a store that keeps no user index.
mod node_layout {
    use super::*;

    sessile::node_layout_conformance!(
        async { FlawedStore::new(Flaw::NoUserIndex) },
        corrupt = corrupt_hook,
        sweeps_expired,
        scans,
    );
}

/// Runs a case on its own thread and runtime; whether it failed.
fn case_fails<F>(case: impl FnOnce(FlawedStore) -> F + Send + 'static, flaw: Flaw) -> bool
where
    F: Future<Output = ()>,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(case(FlawedStore::new(flaw)));
    })
    .join()
    .is_err()
}

#[test]
fn returning_expired_records_fails_the_expiry_cases() {
    assert!(case_fails(
        cases::idle_deadline_expires_record,
        Flaw::IgnoresExpiry
    ));
    assert!(case_fails(
        cases::absolute_deadline_caps_every_touch,
        Flaw::IgnoresExpiry
    ));
}

#[test]
fn a_lookup_that_hides_or_misnames_expiry_fails_the_lookup_cases() {
    assert!(case_fails(
        cases::lookup_tells_live_expired_and_missing,
        Flaw::IgnoresExpiry
    ));
    assert!(case_fails(
        cases::lookup_tells_live_expired_and_missing,
        Flaw::MisnamesDeadline
    ));
    assert!(!case_fails(
        cases::lookup_tells_live_expired_and_missing,
        Flaw::ForgetsExpiry
    ));
    // Declaring `keeps_expired` asks for the deadline, not `Missing`.
    assert!(case_fails(
        cases::lookup_names_the_deadline_of_an_expired_record,
        Flaw::ForgetsExpiry
    ));
    assert!(case_fails(
        cases::lookup_names_the_deadline_of_an_expired_record,
        Flaw::MisnamesDeadline
    ));
}

#[test]
fn a_limit_counted_apart_from_its_write_fails_the_concurrent_sign_in_case() {
    assert!(case_fails(
        cases::concurrent_sign_ins_leave_exactly_the_limit,
        Flaw::NonAtomicLimit
    ));
    assert!(!case_fails(
        cases::concurrent_sign_ins_leave_exactly_the_limit,
        Flaw::None
    ));
    // A store that enforces the limit is not one that cannot.
    assert!(case_fails(cases::per_user_limit_is_unsupported, Flaw::None));
}

#[test]
fn a_rotation_without_a_forward_pointer_fails_the_grace_case() {
    assert!(case_fails(
        cases::rotation_leaves_a_forward_pointer_for_the_grace,
        Flaw::NoForwardPointer
    ));
    assert!(!case_fails(
        cases::rotation_leaves_a_forward_pointer_for_the_grace,
        Flaw::None
    ));
    // And a store that keeps one fails the Node layouts' case, which asks for none.
    assert!(case_fails(
        sessile::testkit::node_cases::rotation_keeps_no_forward_pointer,
        Flaw::None
    ));
}

#[test]
fn an_upserting_update_fails_the_resurrection_case() {
    assert!(case_fails(
        cases::deleted_session_is_never_resurrected,
        Flaw::Upserts
    ));
}

#[test]
fn a_lenient_increment_fails_the_integer_rule() {
    assert!(case_fails(
        cases::increment_follows_the_integer_rule,
        Flaw::LenientIncrement
    ));
}

#[test]
fn a_newest_first_listing_fails_the_index_case() {
    assert!(case_fails(
        cases::user_index_lists_live_sessions_oldest_first,
        Flaw::NewestFirst
    ));
}

#[test]
fn a_listing_that_loses_page_ends_fails_the_paging_case() {
    assert!(case_fails(
        cases::user_listing_pages_hold_each_session_once_oldest_first,
        Flaw::PageDropsLast
    ));
    assert!(!case_fails(
        cases::user_listing_pages_hold_each_session_once_oldest_first,
        Flaw::None
    ));
}

#[test]
fn a_scan_that_loses_sessions_fails_the_scan_case() {
    assert!(case_fails(
        cases::scan_reports_every_session_exactly_once,
        Flaw::ScanSkipsPageEnds
    ));
    assert!(!case_fails(
        cases::scan_reports_every_session_exactly_once,
        Flaw::None
    ));
    // The Node layouts' variant (user and deadline only) catches it too.
    assert!(case_fails(
        node_cases::scan_reports_every_session_exactly_once,
        Flaw::ScanSkipsPageEnds
    ));
    assert!(!case_fails(
        node_cases::scan_reports_every_session_exactly_once,
        Flaw::None
    ));
}

#[test]
fn counting_expired_sessions_fails_the_count_case() {
    assert!(case_fails(
        cases::count_live_counts_live_sessions_only,
        Flaw::CountsExpired
    ));
    assert!(!case_fails(
        cases::count_live_counts_live_sessions_only,
        Flaw::None
    ));
}

#[test]
fn an_unbounded_cleanup_fails_the_batch_case() {
    assert!(case_fails(
        cases::delete_expired_removes_only_expired_in_batches,
        Flaw::UnboundedCleanup
    ));
}

#[test]
fn a_push_that_reads_then_writes_fails_the_concurrent_push_case() {
    assert!(case_fails(
        cases::concurrent_pushes_to_one_array_all_persist,
        Flaw::PushReadsThenWrites
    ));
    // The flaw is in `push` alone: the other operation cases pass on that store.
    assert!(!case_fails(
        cases::concurrent_increments_in_the_commit_add_up,
        Flaw::PushReadsThenWrites
    ));
}

#[test]
fn snapshot_writes_fail_the_concurrent_update_case() {
    assert!(case_fails(
        cases::concurrent_updates_of_different_keys_all_persist,
        Flaw::LastWriterWins
    ));
}

#[test]
fn hiding_corruption_fails_the_corrupt_case() {
    let case = |store| cases::corrupt_record_is_reported(store, corrupt_hook);
    assert!(case_fails(case, Flaw::HidesCorruption));
    assert!(!case_fails(case, Flaw::None));
}

#[test]
fn failing_writes_to_corrupt_records_fail_their_cases() {
    let flaw = Flaw::FailsWritesToCorruptRecords;
    let update = |store| cases::update_of_corrupt_record_is_no_failure(store, corrupt_hook);
    let increment = |store| cases::increment_of_corrupt_record_is_no_failure(store, corrupt_hook);
    let rotate = |store| cases::rotate_of_corrupt_record_is_no_failure(store, corrupt_hook);
    assert!(case_fails(update, flaw));
    assert!(case_fails(increment, flaw));
    assert!(case_fails(rotate, flaw));
    assert!(!case_fails(update, Flaw::None));
    assert!(!case_fails(increment, Flaw::None));
    assert!(!case_fails(rotate, Flaw::None));
}

#[test]
fn the_node_layout_cases_fail_on_their_flaws() {
    use sessile::testkit::node_cases;
    assert!(case_fails(
        node_cases::idle_deadline_expires_record,
        Flaw::IgnoresExpiry
    ));
    assert!(case_fails(
        node_cases::deleted_session_is_never_resurrected,
        Flaw::Upserts
    ));
    assert!(case_fails(
        node_cases::delete_expired_removes_only_expired,
        Flaw::UnboundedCleanup
    ));
    // A store that answers user queries must not claim to be a layout without an index.
    assert!(case_fails(
        node_cases::user_index_is_unsupported,
        Flaw::None
    ));
    // Nor one that keeps a session's own lifetime.
    assert!(case_fails(
        node_cases::own_lifetime_is_unsupported,
        Flaw::None
    ));
}

#[test]
fn a_blind_touch_that_ignores_the_own_idle_timeout_fails_the_lifetime_case() {
    assert!(case_fails(
        cases::own_idle_timeout_moves_every_touch,
        Flaw::BlindTouchIgnoresOwnTimeout
    ));
    assert!(!case_fails(
        cases::own_idle_timeout_moves_every_touch,
        Flaw::None
    ));
    // The flaw is in blind touches alone: a change set that sets the timeout still passes.
    assert!(!case_fails(
        cases::change_set_sets_and_takes_back_own_lifetime,
        Flaw::BlindTouchIgnoresOwnTimeout
    ));
    // A store that keeps no own lifetime at all answers Unsupported, which the store suite's
    // cases do not accept.
    assert!(case_fails(
        cases::change_set_sets_and_takes_back_own_lifetime,
        Flaw::NoUserIndex
    ));
}
