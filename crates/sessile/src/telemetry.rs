//! Metrics through the `metrics` facade and `tracing` spans around commits and store calls.
//!
//! The names and labels are listed in one table in the README ("Metrics and tracing"). The
//! hot path pays little: the handles are registered once, when a manager is built (so the
//! application installs its recorder before that), and a counter or histogram of the no-op
//! recorder is a call that does nothing. Spans are `debug` level, so a subscriber at `info`
//! turns each into one check of a cached flag.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Histogram};

use crate::events::{Event, EventSink, RejectReason};
use crate::store::{IncrementOutcome, StoreError};

/// The store operations the engine calls, as the `operation` label and span field name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Lookup,
    Create,
    Update,
    Rotate,
    Increment,
    Delete,
    ListUserSessions,
    DeleteUserSessions,
}

impl Operation {
    const ALL: [Operation; 8] = [
        Operation::Lookup,
        Operation::Create,
        Operation::Update,
        Operation::Rotate,
        Operation::Increment,
        Operation::Delete,
        Operation::ListUserSessions,
        Operation::DeleteUserSessions,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::Lookup => "lookup",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Rotate => "rotate",
            Operation::Increment => "increment",
            Operation::Delete => "delete",
            Operation::ListUserSessions => "list_user_sessions",
            Operation::DeleteUserSessions => "delete_user_sessions",
        }
    }
}

/// A store error's `kind` label.
pub(crate) fn error_kind(error: &StoreError) -> &'static str {
    match error {
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Corrupt(_) => "corrupt",
        StoreError::Backend(_) => "backend",
        StoreError::Unsupported(_) => "unsupported",
        StoreError::Operation(_) => "operation_refused",
    }
}

/// What a commit did to the store, as the `outcome` label of `sessile_commits_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Committed {
    Applied,
    Collision,
}

/// The metric handles of one manager, registered when it is built.
pub(crate) struct Telemetry {
    /// The store's type name (`SqliteStore`, `RedisStore`), or `cookie` for client-side
    /// sessions: the `store` label and span field.
    pub(crate) store: &'static str,
    loads: [Counter; 4],
    commits: [Counter; 4],
    increments: [Counter; 3],
    rotations: Counter,
    destroys: Counter,
    rejected: [Counter; 3],
    store_seconds: [Histogram; Operation::ALL.len()],
}

impl Telemetry {
    pub(crate) fn new(store: &'static str) -> Self {
        let loads = ["live", "expired", "missing", "corrupt"]
            .map(|outcome| metrics::counter!("sessile_loads_total", "outcome" => outcome));
        let commits = ["created", "applied", "gone", "collision"]
            .map(|outcome| metrics::counter!("sessile_commits_total", "outcome" => outcome));
        let increments = ["applied", "gone", "not_an_integer"]
            .map(|outcome| metrics::counter!("sessile_increments_total", "outcome" => outcome));
        let rejected = ["malformed", "bad_signature", "unsealable"]
            .map(|reason| metrics::counter!("sessile_rejected_ids_total", "reason" => reason));
        let store_seconds = Operation::ALL.map(|operation| {
            metrics::histogram!(
                "sessile_store_call_seconds",
                "store" => store,
                "operation" => operation.name()
            )
        });
        Self {
            store,
            loads,
            commits,
            increments,
            rotations: metrics::counter!("sessile_rotations_total"),
            destroys: metrics::counter!("sessile_destroys_total"),
            rejected,
            store_seconds,
        }
    }

    /// One store call's latency, and its error by kind.
    pub(crate) fn store_call(
        &self,
        operation: Operation,
        took: Duration,
        error: Option<&StoreError>,
    ) {
        self.store_seconds[operation as usize].record(took.as_secs_f64());
        if let Some(error) = error {
            metrics::counter!(
                "sessile_store_errors_total",
                "store" => self.store,
                "operation" => operation.name(),
                "kind" => error_kind(error)
            )
            .increment(1);
        }
    }

    pub(crate) fn committed(&self, committed: Committed) {
        let slot = match committed {
            Committed::Applied => 1,
            Committed::Collision => 3,
        };
        self.commits[slot].increment(1);
    }

    pub(crate) fn incremented(&self, outcome: IncrementOutcome) {
        let slot = match outcome {
            IncrementOutcome::Value(_) => 0,
            IncrementOutcome::Gone => 1,
            _ => 2,
        };
        self.increments[slot].increment(1);
    }

    /// Counts what an engine event tells: loads by outcome, created and gone commits,
    /// rotations, destroys and rejected ids.
    fn observe(&self, event: &Event) {
        let counter = match event {
            Event::Loaded { .. } => &self.loads[0],
            Event::Expired { .. } => &self.loads[1],
            Event::Missed { .. } => &self.loads[2],
            Event::Corrupt { .. } => &self.loads[3],
            Event::Created { .. } => &self.commits[0],
            Event::Interrupted { .. } => &self.commits[2],
            Event::Rotated { .. } => &self.rotations,
            Event::Destroyed { .. } => &self.destroys,
            Event::Rejected { reason, .. } => match reason {
                RejectReason::Malformed => &self.rejected[0],
                RejectReason::BadSignature => &self.rejected[1],
                _ => &self.rejected[2],
            },
            _ => return,
        };
        counter.increment(1);
    }
}

/// The application's event sink with the metrics that events tell counted first: every event
/// the engine emits passes through it, whatever sink the application chose.
pub(crate) struct Metered {
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) events: Arc<dyn EventSink>,
}

impl EventSink for Metered {
    fn emit(&self, event: &Event) {
        self.telemetry.observe(event);
        self.events.emit(event);
    }
}
