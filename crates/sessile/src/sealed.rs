//! What a sealed cookie ([`crate::SealedCookies`]) holds once opened: the session's id and
//! record as JSON, in the layout of the value's format.

use serde::{Deserialize, Serialize};

use crate::id::SessionId;
use crate::keys::SealFormat;
use crate::record::{Device, Record, SessionData};
use crate::time::Timestamp;

/// The size of a small session's format 2 JSON (id, deadlines, a User-Agent summary, a key or
/// two), so sealing one grows its buffer once at most.
pub(crate) const TYPICAL_LEN: usize = 256;

/// Appends the format 2 JSON of the session to `buffer`.
pub(crate) fn write(buffer: &mut Vec<u8>, id: &SessionId, record: &Record) {
    // Exhaustive on purpose: a field added to `Record` or `Device` must be given a name here.
    let Record {
        data,
        user,
        created_at,
        last_seen,
        idle_deadline,
        absolute_deadline,
        persistent,
        device: Device { user_agent, ip },
        idle_timeout,
    } = record;
    let payload = CompactRef {
        id,
        data,
        user: user.as_deref(),
        created_at: *created_at,
        last_seen: *last_seen,
        idle_deadline: *idle_deadline,
        absolute_deadline: *absolute_deadline,
        persistent: *persistent,
        user_agent: user_agent.as_deref(),
        ip: ip.as_deref(),
        idle_timeout: *idle_timeout,
    };
    serde_json::to_writer(buffer, &payload).expect("a record of JSON values always serializes");
}

/// The session in `plaintext`, read as `format` lays it out.
pub(crate) fn read(
    format: SealFormat,
    plaintext: &[u8],
) -> Result<(SessionId, Record), serde_json::Error> {
    match format {
        SealFormat::V1 => {
            let Verbose { id, record } = serde_json::from_slice(plaintext)?;
            Ok((id, record))
        }
        SealFormat::V2 => {
            let compact: Compact = serde_json::from_slice(plaintext)?;
            let mut record = Record::new(
                compact.created_at,
                compact.idle_deadline,
                compact.absolute_deadline,
            );
            record.data = compact.data;
            record.user = compact.user;
            record.last_seen = compact.last_seen;
            record.persistent = compact.persistent;
            record.device = Device::new(compact.user_agent, compact.ip);
            record.idle_timeout = compact.idle_timeout;
            Ok((compact.id, record))
        }
    }
}

/// Format 1: `{"id": …, "record": …}` with the record's own field names.
#[derive(Deserialize)]
struct Verbose {
    id: SessionId,
    record: Record,
}

/// Format 2: the same fields flat, under one- or two-letter names, the defaults (no user, not
/// persistent, no device) left out: a small session's cookie is a third shorter, so there is a
/// third less to encrypt, encode and send.
#[derive(Serialize)]
struct CompactRef<'a> {
    #[serde(rename = "i")]
    id: &'a SessionId,
    #[serde(rename = "d")]
    data: &'a SessionData,
    #[serde(rename = "u", skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(rename = "c")]
    created_at: Timestamp,
    #[serde(rename = "l")]
    last_seen: Timestamp,
    #[serde(rename = "e")]
    idle_deadline: Timestamp,
    #[serde(rename = "a")]
    absolute_deadline: Timestamp,
    #[serde(rename = "p", skip_serializing_if = "is_false")]
    persistent: bool,
    #[serde(rename = "ua", skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    #[serde(rename = "ip", skip_serializing_if = "Option::is_none")]
    ip: Option<&'a str>,
    #[serde(
        rename = "it",
        skip_serializing_if = "Option::is_none",
        with = "crate::time::optional_millis"
    )]
    idle_timeout: Option<std::time::Duration>,
}

/// [`CompactRef`], read back.
#[derive(Deserialize)]
struct Compact {
    #[serde(rename = "i")]
    id: SessionId,
    #[serde(rename = "d")]
    data: SessionData,
    #[serde(rename = "u", default)]
    user: Option<String>,
    #[serde(rename = "c")]
    created_at: Timestamp,
    #[serde(rename = "l")]
    last_seen: Timestamp,
    #[serde(rename = "e")]
    idle_deadline: Timestamp,
    #[serde(rename = "a")]
    absolute_deadline: Timestamp,
    #[serde(rename = "p", default)]
    persistent: bool,
    #[serde(rename = "ua", default)]
    user_agent: Option<String>,
    #[serde(rename = "ip", default)]
    ip: Option<String>,
    #[serde(rename = "it", default, with = "crate::time::optional_millis")]
    idle_timeout: Option<std::time::Duration>,
}

fn is_false(value: &bool) -> bool {
    !value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> (SessionId, Record) {
        let at = Timestamp::from_millis;
        let mut record = Record::new(at(1_000), at(61_000), at(3_601_000));
        record.last_seen = at(2_000);
        (SessionId::generate(), record)
    }

    #[test]
    fn format_2_round_trips_every_field() {
        let (id, mut record) = session();
        let mut buffer = Vec::new();
        write(&mut buffer, &id, &record);
        assert_eq!(
            read(SealFormat::V2, &buffer).unwrap(),
            (id.clone(), record.clone())
        );

        record.user = Some("ada".into());
        record.persistent = true;
        record.data.insert("theme".into(), "dark".into());
        record.device = Device::new(Some("Firefox on Linux".into()), Some("192.0.2.7".into()));
        record.idle_timeout = Some(std::time::Duration::from_secs(30 * 86_400));
        buffer.clear();
        write(&mut buffer, &id, &record);
        assert_eq!(read(SealFormat::V2, &buffer).unwrap(), (id, record));
    }

    #[test]
    fn format_2_leaves_the_defaults_out() {
        let (id, record) = session();
        let mut buffer = Vec::new();
        write(&mut buffer, &id, &record);
        let text = String::from_utf8(buffer).unwrap();
        let expected = format!(
            r#"{{"i":"{}","d":{{}},"c":1000,"l":2000,"e":61000,"a":3601000}}"#,
            id.encode()
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn each_format_reads_only_its_own_layout() {
        let (id, record) = session();
        let mut compact = Vec::new();
        write(&mut compact, &id, &record);
        assert!(read(SealFormat::V1, &compact).is_err());
        let verbose =
            serde_json::to_vec(&serde_json::json!({ "id": id, "record": record })).unwrap();
        assert_eq!(read(SealFormat::V1, &verbose).unwrap(), (id, record));
        assert!(read(SealFormat::V2, &verbose).is_err());
    }
}
