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

/// The user's sessions, this one first, then the most recently active.
pub(crate) async fn session_rows(session: &Session) -> Result<Vec<SessionRow>, Error> {
    let current = session.current_key();
    let mut rows: Vec<SessionRow> = session
        .user_sessions()
        .await?
        .into_iter()
        .map(|summary| SessionRow::new(summary, current.as_ref()))
        .collect();
    rows.sort_by(|a, b| {
        b.current
            .cmp(&a.current)
            .then(b.last_seen.cmp(&a.last_seen))
            .then(b.created_at.cmp(&a.created_at))
    });
    Ok(rows)
}
