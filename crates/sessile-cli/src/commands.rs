//! `sessions`, `revoke`, `revoke-user` and `migrate`: one store call or a scan each. `gc` and
//! `stats` have modules of their own.

use serde_json::json;
use sessile::{Clock, ScannedSession, Store, SystemClock};

use crate::cli::StoreArgs;
use crate::error::{CliError, Kind};
use crate::open::{self, Opened};
use crate::output::{self, short_key};

/// What a command found: a JSON document for `--json`, text otherwise.
pub struct Report {
    pub json: serde_json::Value,
    pub text: String,
}

/// Sessions per scan page: large enough that a scan of a million sessions is a thousand round
/// trips, small enough that a page is a short read beside a running app.
pub const SCAN_PAGE: u32 = 1000;

/// Calls `each` for every session the store holds (live or expired).
pub async fn scan_all(
    opened: &Opened,
    mut each: impl FnMut(ScannedSession),
) -> Result<(), CliError> {
    let mut cursor: Option<String> = None;
    loop {
        let page = opened
            .store
            .scan(cursor.as_deref(), SCAN_PAGE)
            .await
            .map_err(|error| CliError::from_store(&opened.name, "reading every session", error))?;
        page.sessions.into_iter().for_each(&mut each);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

/// One page of a listing `sessions --limit` asked for.
pub struct Page<'a> {
    pub limit: u32,
    pub cursor: Option<&'a str>,
}

/// One page of `user`'s live sessions.
async fn user_page(
    opened: &Opened,
    user: &str,
    now: sessile::Timestamp,
    cursor: Option<&str>,
    limit: u32,
) -> Result<sessile::UserSessionsPage, CliError> {
    opened
        .store
        .list_user_sessions(user, now, cursor, limit)
        .await
        .map_err(|error| {
            CliError::from_store(&opened.name, &format!("listing {user:?}'s sessions"), error)
        })
}

/// Every live session of `user`, page after page.
async fn all_user_sessions(
    opened: &Opened,
    user: &str,
    now: sessile::Timestamp,
) -> Result<Vec<sessile::SessionSummary>, CliError> {
    let mut sessions = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = user_page(opened, user, now, cursor.as_deref(), SCAN_PAGE).await?;
        sessions.extend(page.sessions);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(sessions),
        }
    }
}

/// `user`'s live sessions: every page, or the one `page` asks for, with the next page's cursor.
pub async fn sessions(
    opened: &Opened,
    user: &str,
    page: Option<Page<'_>>,
) -> Result<Report, CliError> {
    let now = SystemClock.now();
    let (sessions, next) = match page {
        None => (all_user_sessions(opened, user, now).await?, None),
        Some(page) => {
            let page = user_page(opened, user, now, page.cursor, page.limit).await?;
            (page.sessions, page.next)
        }
    };
    let json = json!({
        "user": user,
        "next": next,
        "sessions": sessions.iter().map(|session| json!({
            "key": short_key(&session.key),
            "created_at": output::time(session.created_at),
            "last_seen": output::time(session.last_seen),
            "expires_at": output::time(session.expires_at),
            "device": session.device.user_agent,
            "ip": session.device.ip,
        })).collect::<Vec<_>>(),
    });
    let text = if sessions.is_empty() {
        format!("{user:?} has no live sessions\n")
    } else {
        let rows: Vec<Vec<String>> = sessions
            .iter()
            .map(|session| {
                vec![
                    short_key(&session.key),
                    output::time(session.created_at),
                    format!(
                        "{} ago",
                        output::span(output::between(session.last_seen, now))
                    ),
                    format!(
                        "in {}",
                        output::span(output::between(now, session.expires_at))
                    ),
                    session
                        .device
                        .user_agent
                        .clone()
                        .unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        output::table(&["KEY", "CREATED", "LAST SEEN", "EXPIRES", "DEVICE"], &rows)
    };
    let text = match &next {
        Some(next) => format!("{text}more: --cursor {next}\n"),
        None => text,
    };
    Ok(Report { json, text })
}

/// The one session whose store key starts with `prefix`, among `candidates`.
fn the_one<'a, T>(
    prefix: &str,
    candidates: impl Iterator<Item = (&'a sessile::StoreKey, T)>,
    what: &str,
) -> Result<(sessile::StoreKey, T), CliError> {
    let mut found: Vec<(sessile::StoreKey, T)> = candidates
        .filter(|(key, _)| key.to_hex().starts_with(prefix))
        .map(|(key, value)| (key.clone(), value))
        .collect();
    match found.len() {
        0 => Err(CliError::new(
            Kind::NotFound,
            format!("no session {what} has the key {prefix}"),
        )
        .check("the key `sessile sessions USER` shows; the session may have ended")),
        1 => Ok(found.remove(0)),
        n => Err(CliError::new(
            Kind::Usage,
            format!(
                "{n} sessions {what} have keys starting with {prefix}: {}",
                found
                    .iter()
                    .map(|(key, _)| key.to_hex()[..prefix.len() + 4].to_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .check("give more digits of the key")),
    }
}

/// Revokes the session whose store key starts with `prefix` (a key [`output::parse_key`]
/// accepted).
pub async fn revoke(opened: &Opened, prefix: &str) -> Result<Report, CliError> {
    let mut sessions = Vec::new();
    scan_all(opened, |session| {
        if session.summary.key.to_hex().starts_with(prefix) {
            sessions.push(session);
        }
    })
    .await?;
    let (key, session) = the_one(
        prefix,
        sessions
            .iter()
            .map(|session| (&session.summary.key, session)),
        "in the store",
    )
    .map_err(|error| error.at(&opened.name))?;
    let deleted = opened
        .store
        .delete(&key)
        .await
        .map_err(|error| CliError::from_store(&opened.name, "deleting the session", error))?;
    if !deleted {
        return Err(CliError::new(
            Kind::NotFound,
            format!(
                "session {} ended before it could be revoked",
                short_key(&key)
            ),
        )
        .at(&opened.name));
    }
    Ok(Report {
        json: json!({ "revoked": short_key(&key), "user": session.user }),
        text: match &session.user {
            Some(user) => format!("revoked session {} of {user:?}\n", short_key(&key)),
            None => format!("revoked session {}\n", short_key(&key)),
        },
    })
}

/// Revokes `user`'s sessions but the one whose store key starts with `except` (a key
/// [`output::parse_key`] accepted).
pub async fn revoke_user(
    opened: &Opened,
    user: &str,
    except: Option<&str>,
) -> Result<Report, CliError> {
    let keep = match except {
        None => None,
        Some(prefix) => {
            let sessions = all_user_sessions(opened, user, SystemClock.now()).await?;
            let (key, ()) = the_one(
                prefix,
                sessions.iter().map(|session| (&session.key, ())),
                &format!("of {user:?}"),
            )
            .map_err(|error| error.at(&opened.name))?;
            Some(key)
        }
    };
    let count = opened
        .store
        .delete_user_sessions(user, keep.as_ref())
        .await
        .map_err(|error| {
            CliError::from_store(
                &opened.name,
                &format!("revoking {user:?}'s sessions"),
                error,
            )
        })?;
    let kept = keep.as_ref().map(short_key);
    Ok(Report {
        json: json!({ "user": user, "revoked": count, "kept": kept }),
        text: match &kept {
            Some(kept) => format!("revoked {count} sessions of {user:?}, kept {kept}\n"),
            None => format!("revoked {count} sessions of {user:?}\n"),
        },
    })
}

pub async fn migrate(args: &StoreArgs, print: bool) -> Result<Report, CliError> {
    if print {
        let sql = open::migration_sql(args)?;
        return Ok(Report {
            json: json!({ "sql": sql }),
            text: sql,
        });
    }
    if open::keeps_no_schema(args)? {
        let name = open::store_name(args);
        return Ok(Report {
            json: json!({ "store": name, "migrated": false }),
            text: format!("{name}: Redis keeps no schema; nothing to migrate\n"),
        });
    }
    let opened = open::open(args, true).await?;
    Ok(Report {
        json: json!({ "store": opened.name, "migrated": true }),
        text: format!("{}: the session schema is up to date\n", opened.name),
    })
}
