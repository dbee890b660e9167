//! An event sink that keeps every event, for asserting what the engine reported.

use std::sync::{Arc, Mutex};

use crate::events::{Event, EventSink};

/// Keeps every [`Event`] it receives. Clones share the list, so a test gives one clone to
/// [`crate::ConfigBuilder::events`] and reads another.
///
/// ```
/// use sessile::testkit::RecordingEvents;
/// use sessile::{Event, EventSink};
/// let events = RecordingEvents::new();
/// events.clone().emit(&Event::Destroyed { tag: "abcd1234".into() });
/// assert_eq!(events.count(|e| matches!(e, Event::Destroyed { .. })), 1);
/// events.clear();
/// assert!(events.events().is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct RecordingEvents {
    events: Arc<Mutex<Vec<Event>>>,
}

impl RecordingEvents {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event so far, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// How many events so far match `predicate`.
    pub fn count(&self, predicate: impl Fn(&Event) -> bool) -> usize {
        self.lock().iter().filter(|event| predicate(event)).count()
    }

    /// Forgets every event so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl EventSink for RecordingEvents {
    fn emit(&self, event: &Event) {
        self.lock().push(event.clone());
    }
}
