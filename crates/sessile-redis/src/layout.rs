//! How a [`Record`] is laid out in Redis: key names and hash fields.

use std::collections::BTreeSet;

use sessile::document::{Operation, Path};
use sessile::{ChangeSet, Device, KeyChange, Record, SessionData, StoreError, StoreKey, Timestamp};

/// Prefix of the hash fields that hold the handler's data (JSON values).
pub(crate) const DATA: &str = "d:";
const USER: &str = "m:user";
const CREATED_AT: &str = "m:created_at";
const LAST_SEEN: &str = "m:last_seen";
const IDLE_DEADLINE: &str = "m:idle_deadline";
const ABSOLUTE_DEADLINE: &str = "m:absolute_deadline";
const PERSISTENT: &str = "m:persistent";
const DEVICE: &str = "m:device";
const REVISION: &str = "m:rev";
/// The session's own idle timeout in milliseconds; absent for the manager's.
const IDLE_TIMEOUT: &str = "m:idle_timeout";

/// The metadata fields a per-user listing reads, in the order [`summary_fields`] expects them.
pub(crate) const SUMMARY_FIELDS: [&str; 6] = [
    USER,
    CREATED_AT,
    LAST_SEEN,
    IDLE_DEADLINE,
    ABSOLUTE_DEADLINE,
    DEVICE,
];

/// Key names under one prefix.
#[derive(Clone, Debug)]
pub(crate) struct KeyNames {
    prefix: String,
}

impl KeyNames {
    pub(crate) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>{<hex>}`: the hash tag keeps everything about one session in one slot.
    pub(crate) fn session(&self, key: &StoreKey) -> String {
        let mut name = String::with_capacity(self.prefix.len() + 66);
        name.push_str(&self.prefix);
        name.push('{');
        push_hex(&mut name, key);
        name.push('}');
        name
    }

    pub(crate) fn session_of_member(&self, member: &str) -> String {
        format!("{}{{{member}}}", self.prefix)
    }

    /// `<prefix>user:{<user>}`: a sorted set of hex store keys.
    pub(crate) fn user_index(&self, user: &str) -> String {
        format!("{}user:{{{user}}}", self.prefix)
    }

    /// `<prefix>user-lease:{<user>}`: the lease (Cluster) that serializes the user's sign-ins
    /// under a per-user limit; the same hash tag as [`Self::user_index`], so the same slot.
    pub(crate) fn user_lease(&self, user: &str) -> String {
        format!("{}user-lease:{{{user}}}", self.prefix)
    }

    /// `<prefix>expiry`: a sorted set of hex store keys scored by absolute deadline,
    /// for `delete_expired`.
    pub(crate) fn expiry_index(&self) -> String {
        format!("{}expiry", self.prefix)
    }
}

/// The store key as the indexes hold it: 64 lowercase hex digits, the same text as
/// [`StoreKey::to_hex`], written in one allocation (this runs on every request).
/// The fields of a forward pointer a rotation leaves under the old key (rotation grace): the
/// new key's member, the sealed new id, the deadline. A hash holding them holds nothing else.
const FORWARD_TO: &str = "f:to";
const FORWARD_SEALED: &str = "f:sealed";
const FORWARD_UNTIL: &str = "f:until";

/// `Forwarded` (or `Missing` once lapsed) when `fields` are a forward pointer's; `None` when
/// they are not one.
pub(crate) fn forward(
    fields: &[(Vec<u8>, Vec<u8>)],
    now: sessile::Timestamp,
) -> Result<Option<sessile::store::Lookup>, StoreError> {
    use sessile::store::Lookup;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(field, _)| field == name.as_bytes())
            .map(|(_, value)| value.as_slice())
    };
    let Some(to) = field(FORWARD_TO) else {
        return Ok(None);
    };
    let corrupt = |what: &str| StoreError::Corrupt(format!("forward pointer: {what}"));
    let to = std::str::from_utf8(to)
        .ok()
        .and_then(StoreKey::from_hex)
        .ok_or_else(|| corrupt("target is not a key"))?;
    let until = field(FORWARD_UNTIL)
        .and_then(|until| std::str::from_utf8(until).ok()?.parse::<i64>().ok())
        .ok_or_else(|| corrupt("no deadline"))?;
    if now >= sessile::Timestamp::from_millis(until) {
        return Ok(Some(Lookup::Missing));
    }
    let sealed_id = field(FORWARD_SEALED).unwrap_or_default().to_vec();
    Ok(Some(Lookup::Forwarded { to, sealed_id }))
}

pub(crate) fn member(key: &StoreKey) -> String {
    let mut text = String::with_capacity(64);
    push_hex(&mut text, key);
    text
}

fn push_hex(text: &mut String, key: &StoreKey) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in key.as_bytes() {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

/// A decoded session hash with its write counter.
pub(crate) struct StoredRecord {
    pub record: Record,
    pub revision: String,
}

/// The hash fields of a new record, as a flat field/value list for `HSET`.
pub(crate) fn record_fields(record: &Record) -> Vec<String> {
    let mut fields = Vec::with_capacity(16 + 2 * record.data.len());
    let mut push = |field: &str, value: String| {
        fields.push(field.to_owned());
        fields.push(value);
    };
    push(CREATED_AT, record.created_at.as_millis().to_string());
    push(LAST_SEEN, record.last_seen.as_millis().to_string());
    push(IDLE_DEADLINE, record.idle_deadline.as_millis().to_string());
    push(
        ABSOLUTE_DEADLINE,
        record.absolute_deadline.as_millis().to_string(),
    );
    push(PERSISTENT, flag(record.persistent).to_owned());
    push(DEVICE, device_json(&record.device));
    if let Some(user) = &record.user {
        push(USER, user.clone());
    }
    if let Some(timeout) = record.idle_timeout {
        push(IDLE_TIMEOUT, timeout_millis(timeout).to_string());
    }
    for (key, value) in &record.data {
        push(&format!("{DATA}{key}"), value.to_string());
    }
    fields
}

/// `"1"` or `"0"`: how the scripts read booleans.
pub(crate) fn flag(on: bool) -> &'static str {
    if on {
        "1"
    } else {
        "0"
    }
}

pub(crate) fn device_json(device: &Device) -> String {
    serde_json::to_string(device).unwrap_or_else(|_| "{}".to_owned())
}

/// A timeout in whole milliseconds, as the hash keeps it (saturating: the engine keeps them
/// within 100 years).
fn timeout_millis(timeout: std::time::Duration) -> u64 {
    u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)
}

/// The arguments that encode a [`ChangeSet`] for the update and rotate scripts (the layout
/// `apply_changes` in the scripts reads): cleared, touch last_seen, touch idle deadline, user
/// mode, user, persistent, device, own idle timeout (`''` unchanged, `'-'` taken back, else
/// milliseconds), new absolute deadline (`''` unchanged), number of sets, the set pairs, then
/// the removed fields.
pub(crate) fn change_args(changes: &ChangeSet) -> Vec<String> {
    let mut args = Vec::with_capacity(8 + 2 * changes.keys.len());
    args.push(flag(changes.cleared).to_owned());
    match changes.touch {
        Some(touch) => {
            args.push(touch.last_seen.as_millis().to_string());
            args.push(touch.idle_deadline.as_millis().to_string());
        }
        None => {
            args.push(String::new());
            args.push(String::new());
        }
    }
    match &changes.user {
        None => args.extend(["0".to_owned(), String::new()]),
        Some(Some(user)) => args.extend(["1".to_owned(), user.clone()]),
        Some(None) => args.extend(["2".to_owned(), String::new()]),
    }
    args.push(
        changes
            .persistent
            .map(|persistent| flag(persistent).to_owned())
            .unwrap_or_default(),
    );
    args.push(changes.device.as_ref().map(device_json).unwrap_or_default());
    args.push(match changes.idle_timeout {
        None => String::new(),
        Some(None) => "-".to_owned(),
        Some(Some(timeout)) => timeout_millis(timeout).to_string(),
    });
    args.push(
        changes
            .absolute_deadline
            .map(|deadline| deadline.as_millis().to_string())
            .unwrap_or_default(),
    );
    let sets: Vec<(&String, &serde_json::Value)> = changes
        .keys
        .iter()
        .filter_map(|(key, change)| match change {
            KeyChange::Set(value) => Some((key, value)),
            KeyChange::Remove => None,
        })
        .collect();
    args.push(sets.len().to_string());
    for (key, value) in sets {
        args.push(format!("{DATA}{key}"));
        args.push(value.to_string());
    }
    for (key, change) in &changes.keys {
        if *change == KeyChange::Remove {
            args.push(format!("{DATA}{key}"));
        }
    }
    args
}

/// The data keys a change set's document operations read or write (top level, each once, in
/// order) and their hash fields: what the checked update reads with `HMGET` first.
pub(crate) fn operation_fields(changes: &ChangeSet) -> (Vec<&str>, Vec<String>) {
    let touched: BTreeSet<&str> = changes
        .operations
        .iter()
        .flat_map(Operation::paths)
        .map(Path::top)
        .collect();
    let fields = touched.iter().map(|key| format!("{DATA}{key}")).collect();
    (touched.into_iter().collect(), fields)
}

/// From the `HMGET` answer `texts` for [`operation_fields`]: the compare arguments of
/// `update_checked.lua` (the number of fields, then each field with `0` for absent or `1` and
/// the text read) and `changes` with its operations resolved against those values into plain
/// key changes, or the refusal of the operations.
pub(crate) fn checked_update(
    changes: &ChangeSet,
    touched: &[&str],
    fields: &[String],
    texts: &[Option<String>],
) -> Result<(Vec<String>, ChangeSet), StoreError> {
    let mut data = SessionData::new();
    let mut checks = Vec::with_capacity(1 + 2 * fields.len());
    checks.push(fields.len().to_string());
    for ((key, field), text) in touched.iter().zip(fields).zip(texts) {
        checks.push(field.clone());
        let Some(text) = text else {
            checks.push("0".to_owned());
            continue;
        };
        let value = serde_json::from_str(text)
            .map_err(|error| StoreError::Corrupt(format!("field {field}: {error}")))?;
        data.insert((*key).to_owned(), value);
        checks.push(format!("1{text}"));
    }
    let mut resolved = changes.clone();
    resolved.resolve_operations(&data)?;
    Ok((checks, resolved))
}

fn text(field: &[u8], value: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(value.to_vec()).map_err(|_| {
        StoreError::Corrupt(format!(
            "field {} is not UTF-8",
            String::from_utf8_lossy(field)
        ))
    })
}

fn millis(field: &str, value: Option<String>) -> Result<Timestamp, StoreError> {
    let value = value.ok_or_else(|| StoreError::Corrupt(format!("field {field} is missing")))?;
    value
        .parse::<i64>()
        .map(Timestamp::from_millis)
        .map_err(|_| StoreError::Corrupt(format!("field {field} is not an integer: {value:?}")))
}

fn device(value: Option<String>) -> Result<Device, StoreError> {
    match value {
        None => Ok(Device::default()),
        Some(json) => serde_json::from_str(&json)
            .map_err(|error| StoreError::Corrupt(format!("field {DEVICE}: {error}"))),
    }
}

/// Decodes an `HGETALL` answer; `None` for an empty hash (no such key).
pub(crate) fn decode(fields: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Option<StoredRecord>, StoreError> {
    // A forward pointer (rotation grace) is no session.
    if fields.is_empty()
        || fields
            .iter()
            .any(|(field, _)| field == FORWARD_TO.as_bytes())
    {
        return Ok(None);
    }
    let mut data = SessionData::new();
    let mut meta = std::collections::HashMap::new();
    for (field, value) in fields {
        if let Some(key) = field.strip_prefix(DATA.as_bytes()) {
            let key = text(&field, key)?;
            let value = serde_json::from_slice(&value).map_err(|error| {
                StoreError::Corrupt(format!("value of {key:?} is not JSON: {error}"))
            })?;
            data.insert(key, value);
        } else {
            let name = text(&field, &field)?;
            let value = text(&field, &value)?;
            meta.insert(name, value);
        }
    }
    let persistent = match meta.remove(PERSISTENT).as_deref() {
        Some("1") => true,
        Some("0") | None => false,
        Some(other) => {
            return Err(StoreError::Corrupt(format!(
                "field {PERSISTENT} is neither 0 nor 1: {other:?}"
            )))
        }
    };
    let record = {
        let mut record = Record::new(
            millis(CREATED_AT, meta.remove(CREATED_AT))?,
            millis(IDLE_DEADLINE, meta.remove(IDLE_DEADLINE))?,
            millis(ABSOLUTE_DEADLINE, meta.remove(ABSOLUTE_DEADLINE))?,
        );
        record.data = data;
        record.user = meta.remove(USER);
        record.last_seen = millis(LAST_SEEN, meta.remove(LAST_SEEN))?;
        record.persistent = persistent;
        record.device = device(meta.remove(DEVICE))?;
        record.idle_timeout = match meta.remove(IDLE_TIMEOUT) {
            None => None,
            Some(text) => Some(std::time::Duration::from_millis(text.parse().map_err(
                |_| StoreError::Corrupt(format!("field {IDLE_TIMEOUT} is not a timeout: {text:?}")),
            )?)),
        };
        record
    };
    let revision = meta.remove(REVISION).unwrap_or_else(|| "0".to_owned());
    Ok(Some(StoredRecord { record, revision }))
}

/// What a listing needs from one session: its user and summary fields, from an `HMGET` of
/// [`SUMMARY_FIELDS`].
pub(crate) struct SummaryFields {
    pub user: Option<String>,
    pub created_at: Timestamp,
    pub last_seen: Timestamp,
    pub expires_at: Timestamp,
    pub device: Device,
}

/// Decodes an `HMGET` of [`SUMMARY_FIELDS`]; `None` when the session is gone.
pub(crate) fn summary_fields(
    values: Vec<Option<Vec<u8>>>,
) -> Result<Option<SummaryFields>, StoreError> {
    let mut values = values.into_iter();
    let mut next = |name: &str| -> Result<Option<String>, StoreError> {
        match values.next().flatten() {
            None => Ok(None),
            Some(value) => text(name.as_bytes(), &value).map(Some),
        }
    };
    let user = next(USER)?;
    let created_at = next(CREATED_AT)?;
    let last_seen = next(LAST_SEEN)?;
    let idle_deadline = next(IDLE_DEADLINE)?;
    let absolute_deadline = next(ABSOLUTE_DEADLINE)?;
    let device_json = next(DEVICE)?;
    if created_at.is_none() && idle_deadline.is_none() {
        return Ok(None);
    }
    Ok(Some(SummaryFields {
        user,
        created_at: millis(CREATED_AT, created_at)?,
        last_seen: millis(LAST_SEEN, last_seen)?,
        expires_at: millis(IDLE_DEADLINE, idle_deadline)?
            .min(millis(ABSOLUTE_DEADLINE, absolute_deadline)?),
        device: device(device_json)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Record {
        let mut data = SessionData::new();
        data.insert("plain".into(), json!(1));
        data.insert("d:looks like a field".into(), json!({"x": [true, null]}));
        data.insert("m:user".into(), json!("not the user"));
        let mut record = Record::new(
            Timestamp::from_millis(1_000),
            Timestamp::from_millis(3_000),
            Timestamp::from_millis(4_000),
        );
        record.data = data;
        record.user = Some("alice".into());
        record.last_seen = Timestamp::from_millis(2_000);
        record.persistent = true;
        record.device = Device::new(Some("curl".into()), None);
        record
    }

    fn as_pairs(fields: Vec<String>) -> Vec<(Vec<u8>, Vec<u8>)> {
        fields
            .chunks(2)
            .map(|pair| (pair[0].clone().into_bytes(), pair[1].clone().into_bytes()))
            .collect()
    }

    #[test]
    fn data_keys_that_look_like_metadata_stay_data() {
        let record = sample();
        let decoded = decode(as_pairs(record_fields(&record)))
            .expect("decodes")
            .expect("not empty");
        assert_eq!(decoded.record, record);
        assert_eq!(decoded.revision, "0");
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        let mut pairs = as_pairs(record_fields(&sample()));
        pairs.push((b"d:broken".to_vec(), b"{not json".to_vec()));
        assert!(matches!(decode(pairs), Err(StoreError::Corrupt(_))));
        let mut pairs = as_pairs(record_fields(&sample()));
        pairs.retain(|(field, _)| field != b"m:created_at");
        assert!(matches!(decode(pairs), Err(StoreError::Corrupt(_))));
        let pairs = vec![(vec![0xff, 0xfe], b"x".to_vec())];
        assert!(matches!(decode(pairs), Err(StoreError::Corrupt(_))));
        assert!(decode(Vec::new()).expect("empty is fine").is_none());
    }

    #[test]
    fn change_args_put_sets_before_removes() {
        let mut changes = ChangeSet::default();
        changes.set("b", json!(2));
        changes.remove("a");
        changes.user = Some(None);
        let args = change_args(&changes);
        assert_eq!(
            args,
            ["0", "", "", "2", "", "", "", "", "", "1", "d:b", "2", "d:a"].map(String::from)
        );
    }

    #[test]
    fn change_args_carry_the_own_timeout_and_absolute_deadline() {
        let mut changes = ChangeSet::default();
        changes.idle_timeout = Some(Some(std::time::Duration::from_secs(60)));
        changes.absolute_deadline = Some(Timestamp::from_millis(1_000));
        assert_eq!(change_args(&changes)[7..9], ["60000", "1000"]);
        changes.idle_timeout = Some(None);
        assert_eq!(change_args(&changes)[7], "-");
    }

    #[test]
    fn member_is_the_store_keys_hex() {
        for _ in 0..8 {
            let key = sessile::SessionId::generate().store_key();
            assert_eq!(member(&key), key.to_hex());
            assert_eq!(
                KeyNames::new("p:".into()).session(&key),
                format!("p:{{{}}}", key.to_hex())
            );
        }
        let key = StoreKey::from_bytes(std::array::from_fn(|i| (i * 8) as u8));
        assert_eq!(member(&key), key.to_hex());
    }

    #[test]
    fn key_names_tag_the_session_and_user() {
        let names = KeyNames::new("app:".into());
        let key = StoreKey::from_bytes([0xab; 32]);
        assert_eq!(names.session(&key), format!("app:{{{}}}", "ab".repeat(32)));
        assert_eq!(names.user_index("bob"), "app:user:{bob}");
        assert_eq!(names.user_lease("bob"), "app:user-lease:{bob}");
        assert_eq!(names.expiry_index(), "app:expiry");
    }
}
