//! How records map onto SQL columns, independent of the dialect: JSON text for the data and the
//! device, 32-byte blobs for keys, Unix milliseconds for times.

use sessile::store::{Lookup, ScanPage, ScannedSession, UserCursor, UserSessionsPage};
use sessile::{
    Deadline, Device, Record, SessionData, SessionSummary, StoreError, StoreKey, Timestamp,
    UpdateOutcome,
};
use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

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
    /// The session's own idle timeout in milliseconds (`NULL`: the manager's).
    pub(crate) idle_timeout_ms: Option<i64>,
}

impl SessionRow {
    /// The record the row holds; [`StoreError::Corrupt`] when its JSON columns do not decode.
    pub(crate) fn into_record(self) -> Result<Record, StoreError> {
        let mut record = Record::new(
            Timestamp::from_millis(self.created_at),
            Timestamp::from_millis(self.idle_deadline),
            Timestamp::from_millis(self.absolute_deadline),
        );
        record.data = decode_data(&self.data)?;
        record.user = self.user_id;
        record.last_seen = Timestamp::from_millis(self.last_seen);
        record.persistent = self.persistent;
        record.device = decode_device(&self.device)?;
        record.idle_timeout = self.idle_timeout_ms.map(timeout_from_millis).transpose()?;
        Ok(record)
    }
}

/// What a session row read without the deadline filter answers at `now` (`Store::lookup`): the
/// deadlines are decided from their columns before the rest is decoded, so an expired row is
/// `Expired` whatever its data. Every dialect's `load` is this read, so telling expired from
/// missing costs no second statement.
fn lookup_row<R>(
    row: Option<R>,
    now: Timestamp,
    deadlines: impl FnOnce(&R) -> (i64, i64),
    into_record: impl FnOnce(R) -> Result<Record, StoreError>,
) -> Result<Lookup, StoreError> {
    let Some(row) = row else {
        return Ok(Lookup::Missing);
    };
    let (idle, absolute) = deadlines(&row);
    let (idle, absolute) = (
        Timestamp::from_millis(idle),
        Timestamp::from_millis(absolute),
    );
    match Deadline::passed(idle, absolute, now) {
        Some(deadline) => Ok(Lookup::Expired(deadline)),
        None => into_record(row).map(Lookup::Live),
    }
}

/// A forward pointer's row (`target`, `sealed_id`, `until` in Unix milliseconds), read after
/// the sessions table had no row for the key: `Forwarded` until `until`, then `Missing`.
fn forward_row(row: Option<(Vec<u8>, Vec<u8>, i64)>, now: Timestamp) -> Result<Lookup, StoreError> {
    let Some((target, sealed_id, until)) = row else {
        return Ok(Lookup::Missing);
    };
    if now >= Timestamp::from_millis(until) {
        return Ok(Lookup::Missing);
    }
    let to = sessile::StoreKey::from_slice(&target)
        .ok_or_else(|| StoreError::Corrupt("forward pointer target is not a 32-byte key".into()))?;
    Ok(Lookup::Forwarded { to, sealed_id })
}

/// What a dialect's one `lookup` statement read: the session row under the key, or else the
/// forward pointer under it, if any. The statement (`lookup` in each dialect's `sql.rs`) joins
/// a one-row probe of the key to both tables, so a miss costs no second statement; the
/// session's `created_at` (never NULL in its table) tells whether the session row was there.
pub(crate) enum LookupRow<R> {
    Session(R),
    Forward(Option<(Vec<u8>, Vec<u8>, i64)>),
}

impl<R> LookupRow<R> {
    /// [`lookup_row`] for a session row, [`forward_row`] for the rest.
    pub(crate) fn answer(
        self,
        now: Timestamp,
        deadlines: impl FnOnce(&R) -> (i64, i64),
        into_record: impl FnOnce(R) -> Result<Record, StoreError>,
    ) -> Result<Lookup, StoreError> {
        match self {
            Self::Session(row) => lookup_row(Some(row), now, deadlines, into_record),
            Self::Forward(pointer) => forward_row(pointer, now),
        }
    }
}

/// Reads a [`LookupRow`] from one dialect's rows: the session's columns under their own names,
/// the pointer's as `forward_target`, `forward_sealed_id` and `forward_until`.
macro_rules! lookup_row_from {
    ($row:ty) => {
        impl<'r, R: sqlx::FromRow<'r, $row>> sqlx::FromRow<'r, $row> for LookupRow<R> {
            fn from_row(row: &'r $row) -> Result<Self, sqlx::Error> {
                use sqlx::Row;
                if row.try_get::<Option<i64>, _>("created_at")?.is_some() {
                    return R::from_row(row).map(Self::Session);
                }
                let target: Option<Vec<u8>> = row.try_get("forward_target")?;
                let sealed_id: Option<Vec<u8>> = row.try_get("forward_sealed_id")?;
                let until: Option<i64> = row.try_get("forward_until")?;
                Ok(Self::Forward(target.zip(sealed_id).zip(until).map(
                    |((target, sealed_id), until)| (target, sealed_id, until),
                )))
            }
        }
    };
}

#[cfg(feature = "sqlite")]
lookup_row_from!(sqlx::sqlite::SqliteRow);
#[cfg(feature = "postgres")]
lookup_row_from!(sqlx::postgres::PgRow);
#[cfg(feature = "mysql")]
lookup_row_from!(sqlx::mysql::MySqlRow);

impl SessionRow {
    /// [`LookupRow::answer`] for the common row shape (MySQL reads its own).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn answer(found: LookupRow<Self>, now: Timestamp) -> Result<Lookup, StoreError> {
        found.answer(
            now,
            |row| (row.idle_deadline, row.absolute_deadline),
            SessionRow::into_record,
        )
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

/// The columns of one row of a user's session listing: key, `created_at`, `last_seen`,
/// `expires_at` (Unix milliseconds) and the device as the driver returns it.
pub(crate) type SummaryRow<Device> = (Vec<u8>, i64, i64, i64, Device);

/// A user's sessions from their listing rows, `device_text` turning the device column into JSON
/// text. Rows that cannot be decoded are left out (with a warning): the engine treats such a
/// session as absent, so it grants no access, and one bad row should not hide the others.
pub(crate) fn decode_summaries<Device>(
    rows: Vec<SummaryRow<Device>>,
    device_text: fn(Device) -> Result<String, StoreError>,
) -> Vec<SessionSummary> {
    let mut sessions = Vec::with_capacity(rows.len());
    for (key, created_at, last_seen, expires_at, device) in rows {
        let summary = decode_key(&key).and_then(|key| {
            Ok(SessionSummary::new(
                key,
                Timestamp::from_millis(created_at),
                Timestamp::from_millis(last_seen),
                Timestamp::from_millis(expires_at),
                decode_device(&device_text(device)?)?,
            ))
        });
        match summary {
            Ok(summary) => sessions.push(summary),
            Err(error) => tracing::warn!(%error, "skipping an undecodable session row"),
        }
    }
    sessions
}

/// The columns of one row of a scan: key, user, `created_at`, `last_seen`, `expires_at` (Unix
/// milliseconds) and the device, user and device as the driver returns them.
pub(crate) type ScanRow<User, Device> = (Vec<u8>, Option<User>, i64, i64, i64, Device);

/// How many rows one scan page asks for at most: a page is one statement, and its rows are
/// summaries without data, so this bounds the memory a page holds.
const MAX_SCAN_PAGE: u32 = 10_000;

/// The bounds of a page of a user's sessions in (`created_at`, key) order: the creation time
/// (Unix milliseconds) and key after which it starts (before everything for the first page),
/// and how many rows to read: one more than the page holds, to know whether another follows.
/// The cursor is [`UserCursor`]'s text, the same in every SQL dialect.
pub(crate) fn user_page_bounds(
    cursor: Option<&str>,
    limit: u32,
) -> Result<(i64, Vec<u8>, u32), StoreError> {
    let limit = limit.clamp(1, MAX_SCAN_PAGE);
    Ok(match cursor.map(UserCursor::parse).transpose()? {
        None => (i64::MIN, Vec::new(), limit + 1),
        Some(after) => (
            after.at.as_millis(),
            after.key.as_bytes().to_vec(),
            limit + 1,
        ),
    })
}

/// A page of a user's sessions from the rows [`user_page_bounds`] asked for: at most `read - 1`
/// of them, decoded as [`decode_summaries`] does, and the cursor after the last row kept when
/// one more was read (from the row itself, so an undecodable row still moves the cursor).
pub(crate) fn decode_user_page<Device>(
    mut rows: Vec<SummaryRow<Device>>,
    read: u32,
    device_text: fn(Device) -> Result<String, StoreError>,
) -> UserSessionsPage {
    let limit = read as usize - 1;
    let next = (rows.len() > limit).then(|| {
        let (key, created_at, ..) = &rows[limit - 1];
        format!("{created_at}.{}", hex(key))
    });
    rows.truncate(limit);
    UserSessionsPage::new(decode_summaries(rows, device_text), next)
}

/// The bounds of a scan page in key order: the key after which it starts (the empty key before
/// the first page) and how many rows it reads.
pub(crate) fn scan_bounds(cursor: Option<&str>, limit: u32) -> Result<(Vec<u8>, u32), StoreError> {
    let after = match cursor {
        None => Vec::new(),
        Some(text) => unhex(text).ok_or_else(|| {
            StoreError::Backend(format!("not a SQL store scan cursor: {text:?}").into())
        })?,
    };
    Ok((after, limit.clamp(1, MAX_SCAN_PAGE)))
}

/// A scan page from its rows (read in key order, `limit` at most): undecodable rows are left
/// out with a warning, as in a user listing, and a full page names its last key as the next
/// page's cursor.
pub(crate) fn decode_scan<User, Device>(
    rows: Vec<ScanRow<User, Device>>,
    limit: u32,
    user_text: fn(User) -> Result<String, StoreError>,
    device_text: fn(Device) -> Result<String, StoreError>,
) -> ScanPage {
    let next = (rows.len() >= limit as usize)
        .then(|| rows.last().map(|row| hex(&row.0)))
        .flatten();
    let mut sessions = Vec::with_capacity(rows.len());
    for (key, user, created_at, last_seen, expires_at, device) in rows {
        let session = decode_key(&key).and_then(|key| {
            let summary = SessionSummary::new(
                key,
                Timestamp::from_millis(created_at),
                Timestamp::from_millis(last_seen),
                Timestamp::from_millis(expires_at),
                decode_device(&device_text(device)?)?,
            );
            Ok(ScannedSession::new(
                summary,
                user.map(user_text).transpose()?,
            ))
        });
        match session {
            Ok(session) => sessions.push(session),
            Err(error) => tracing::warn!(%error, "skipping an undecodable session row in a scan"),
        }
    }
    ScanPage::new(sessions, next)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).ok())
        .collect()
}

/// Lower-case hex of a key column, whatever its length (a corrupt key still moves the cursor).
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A stored idle timeout; a negative one is no timeout anybody wrote.
pub(crate) fn timeout_from_millis(millis: i64) -> Result<std::time::Duration, StoreError> {
    u64::try_from(millis)
        .map(std::time::Duration::from_millis)
        .map_err(|_| StoreError::Corrupt(format!("negative idle timeout {millis} ms")))
}

/// A record's own idle timeout as the `idle_timeout_ms` column holds it.
pub(crate) fn timeout_millis(timeout: Option<std::time::Duration>) -> Option<i64> {
    timeout.map(|timeout| i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX))
}

/// Binds a new record's columns, in every dialect's `INSERT` order: key, data, user,
/// `created_at`, `last_seen`, `idle_deadline`, `absolute_deadline`, `expires_at`, persistent,
/// device, `idle_timeout_ms`.
pub(crate) fn bind_new_record<'q, DB>(
    query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    key: &'q StoreKey,
    record: &'q Record,
) -> Result<Query<'q, DB, <DB as Database>::Arguments<'q>>, StoreError>
where
    DB: Database,
    &'q [u8]: Encode<'q, DB> + Type<DB>,
    String: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
{
    Ok(query
        .bind(key.as_bytes().as_slice())
        .bind(encode_data(&record.data)?)
        .bind(record.user.as_deref())
        .bind(record.created_at.as_millis())
        .bind(record.last_seen.as_millis())
        .bind(record.idle_deadline.as_millis())
        .bind(record.absolute_deadline.as_millis())
        .bind(record.expires_at().as_millis())
        .bind(record.persistent)
        .bind(encode_device(&record.device)?)
        .bind(timeout_millis(record.idle_timeout)))
}

/// An update's outcome from whether its `UPDATE`, guarded on the live row, matched it.
pub(crate) fn update_outcome(matched_live_row: bool) -> UpdateOutcome {
    if matched_live_row {
        UpdateOutcome::Applied
    } else {
        UpdateOutcome::Gone
    }
}

/// A create's outcome from the row count of an upsert whose update branch only replaces an
/// expired row: a live row under the key leaves it at 0.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn upsert_outcome(rows_affected: u64) -> sessile::CreateOutcome {
    if rows_affected > 0 {
        sessile::CreateOutcome::Created
    } else {
        sessile::CreateOutcome::Collision
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
}
