//! How a change set is written on PostgreSQL: the removed keys, an object of the set keys and
//! the device, bound to the one fixed update statement (`sql.rs`), which computes
//! `(data - removed) || set` in the database.

use sessile::{ChangeSet, KeyChange, SessionData};

/// A change set's data part in the shape the update statement binds.
pub(crate) struct Delta {
    pub(crate) removed: Vec<String>,
    /// A JSON object of the keys set.
    pub(crate) set: String,
    /// The new device metadata as JSON, if it changed.
    pub(crate) device: Option<String>,
}

impl Delta {
    pub(crate) fn of(changes: &ChangeSet) -> Result<Self, serde_json::Error> {
        let mut removed = Vec::new();
        let mut set = SessionData::new();
        for (key, change) in &changes.keys {
            match change {
                KeyChange::Remove => removed.push(key.clone()),
                KeyChange::Set(value) => {
                    set.insert(key.clone(), value.clone());
                }
            }
        }
        Ok(Self {
            removed,
            set: serde_json::to_string(&set)?,
            device: changes
                .device
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_delta_splits_sets_from_removals() {
        let mut changes = ChangeSet::default();
        changes.set("a\"b", json!({"nested": null}));
        changes.remove("gone");
        let delta = Delta::of(&changes).unwrap();
        assert_eq!(delta.removed, vec!["gone".to_owned()]);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&delta.set).unwrap(),
            json!({"a\"b": {"nested": null}})
        );
        assert_eq!(delta.device, None);
    }
}
