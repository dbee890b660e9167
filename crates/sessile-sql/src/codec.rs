//! How records map onto SQL columns, independent of the dialect: JSON text for the data and the
//! device, 32-byte blobs for keys, Unix milliseconds for times.

use sessile::{ChangeSet, Device, KeyChange, Record, SessionData, StoreError, StoreKey, Timestamp};

/// The columns of one stored session, as read back from any dialect.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub(crate) data: String,
    pub(crate) user_id: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) last_seen: i64,
    pub(crate) idle_deadline: i64,
    pub(crate) absolute_deadline: i64,
    pub(crate) persistent: bool,
    pub(crate) device: String,
}

impl SessionRow {
    /// The record the row holds; [`StoreError::Corrupt`] when its JSON columns do not decode.
    pub(crate) fn into_record(self) -> Result<Record, StoreError> {
        Ok(Record {
            data: decode_data(&self.data)?,
            user: self.user_id,
            created_at: Timestamp::from_millis(self.created_at),
            last_seen: Timestamp::from_millis(self.last_seen),
            idle_deadline: Timestamp::from_millis(self.idle_deadline),
            absolute_deadline: Timestamp::from_millis(self.absolute_deadline),
            persistent: self.persistent,
            device: decode_device(&self.device)?,
        })
    }
}

/// The session data as stored: a JSON object.
pub(crate) fn encode_data(data: &SessionData) -> Result<String, StoreError> {
    serde_json::to_string(data).map_err(|error| StoreError::Backend(Box::new(error)))
}

/// Session data read back; anything but a JSON object is corrupt.
pub(crate) fn decode_data(text: &str) -> Result<SessionData, StoreError> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(data)) => Ok(data),
        Ok(_) => Err(StoreError::Corrupt(
            "session data is not a JSON object".into(),
        )),
        Err(error) => Err(StoreError::Corrupt(format!(
            "session data is not valid JSON: {error}"
        ))),
    }
}

/// The device metadata as stored: a JSON object.
pub(crate) fn encode_device(device: &Device) -> Result<String, StoreError> {
    serde_json::to_string(device).map_err(|error| StoreError::Backend(Box::new(error)))
}

/// Device metadata read back.
pub(crate) fn decode_device(text: &str) -> Result<Device, StoreError> {
    serde_json::from_str(text)
        .map_err(|error| StoreError::Corrupt(format!("session device is not valid: {error}")))
}

/// A store key read back; anything but 32 bytes is corrupt.
pub(crate) fn decode_key(bytes: &[u8]) -> Result<StoreKey, StoreError> {
    StoreKey::from_slice(bytes).ok_or_else(|| {
        StoreError::Corrupt(format!("session key is {} bytes, expected 32", bytes.len()))
    })
}

/// Applies the data part of `changes` (`cleared`, then `keys`) exactly as
/// [`ChangeSet::apply_to`] does, for stores that rewrite the data in Rust.
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn apply_data_changes(changes: &ChangeSet, data: &mut SessionData) {
    if changes.cleared {
        data.clear();
    }
    for (key, change) in &changes.keys {
        match change {
            KeyChange::Set(value) => {
                data.insert(key.clone(), value.clone());
            }
            KeyChange::Remove => {
                data.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_that_is_not_an_object_is_corrupt() {
        for text in ["[1,2]", "42", "\"text\"", "{", ""] {
            assert!(
                matches!(decode_data(text), Err(StoreError::Corrupt(_))),
                "{text:?} should be corrupt"
            );
        }
        assert_eq!(decode_data(r#"{"a":1}"#).unwrap()["a"], json!(1));
    }

    #[test]
    fn keys_of_the_wrong_length_are_corrupt() {
        assert!(matches!(decode_key(&[0; 31]), Err(StoreError::Corrupt(_))));
        assert!(matches!(decode_key(&[0; 33]), Err(StoreError::Corrupt(_))));
        assert_eq!(decode_key(&[7; 32]).unwrap(), StoreKey::from_bytes([7; 32]));
    }

    #[test]
    fn data_changes_match_the_reference_application() {
        let mut changes = ChangeSet::default();
        changes.clear();
        changes.set("kept", json!({"nested": [1, 2]}));
        changes.remove("gone");
        let mut record = Record {
            data: serde_json::from_value(json!({"old": 1, "gone": 2})).unwrap(),
            user: None,
            created_at: Timestamp::from_millis(0),
            last_seen: Timestamp::from_millis(0),
            idle_deadline: Timestamp::from_millis(1),
            absolute_deadline: Timestamp::from_millis(1),
            persistent: false,
            device: Device::default(),
        };
        let mut data = record.data.clone();
        apply_data_changes(&changes, &mut data);
        changes.apply_to(&mut record);
        assert_eq!(data, record.data);
    }
}
