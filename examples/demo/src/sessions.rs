//! The signed-in user's sessions as the pages and `GET /api/sessions` show them.

use serde::Serialize;
use sessile::{Device, SessionSummary, StoreKey, Timestamp};
use sessile_axum::{Error, Session};

/// One row of `GET /api/sessions`.
#[derive(Serialize)]
pub(crate) struct SessionRow {
    pub(crate) key: StoreKey,
    pub(crate) device: Device,
    pub(crate) created_at: Timestamp,
    pub(crate) last_seen: Timestamp,
    pub(crate) expires_at: Timestamp,
    pub(crate) current: bool,
}

impl SessionRow {
    fn new(summary: SessionSummary, current: Option<&StoreKey>) -> Self {
        Self {
            current: current == Some(&summary.key),
            key: summary.key,
            device: summary.device,
            created_at: summary.created_at,
            last_seen: summary.last_seen,
            expires_at: summary.expires_at,
        }
    }
}

/// How many sessions the signed-in page lists at a time; a "More sessions" link shows the next.
pub(crate) const SESSIONS_PAGE: u32 = 20;

/// The user's sessions, this one first, then the most recently active.
pub(crate) async fn session_rows(session: &Session) -> Result<Vec<SessionRow>, Error> {
    let current = session.current_key();
    let rows = session
        .user_sessions()
        .await?
        .into_iter()
        .map(|summary| SessionRow::new(summary, current.as_ref()))
        .collect();
    Ok(most_relevant_first(rows))
}

/// One page of the user's sessions after `cursor` (oldest first across pages, this one then
/// the most recently active within the page) and the next page's cursor. A cursor the store
/// never gave (a hand-edited link) shows the first page.
pub(crate) async fn session_page(
    session: &Session,
    cursor: Option<&str>,
) -> Result<(Vec<SessionRow>, Option<String>), Error> {
    let page = match session.user_sessions_page(cursor, SESSIONS_PAGE).await {
        Err(sessile::SessionError::Store(_)) if cursor.is_some() => {
            session.user_sessions_page(None, SESSIONS_PAGE).await?
        }
        page => page?,
    };
    let current = session.current_key();
    let rows = page
        .sessions
        .into_iter()
        .map(|summary| SessionRow::new(summary, current.as_ref()))
        .collect();
    Ok((most_relevant_first(rows), page.next))
}

fn most_relevant_first(mut rows: Vec<SessionRow>) -> Vec<SessionRow> {
    rows.sort_by(|a, b| {
        b.current
            .cmp(&a.current)
            .then(b.last_seen.cmp(&a.last_seen))
            .then(b.created_at.cmp(&a.created_at))
    });
    rows
}
