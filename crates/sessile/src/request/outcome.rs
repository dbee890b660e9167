//! What a commit did with the request's session.

/// What a commit did with the request's session: [`Session::commit`] returns it to a handler
/// that commits itself, [`ResponseHeaders::outcome`] to an adapter after [`Session::finish`].
/// Adapters act on it for handlers that did not commit (`sessile-axum` answers 409 for
/// [`CommitOutcome::Dropped`]).
///
/// ```
/// use sessile::{CommitOutcome, Config, Keys, MemoryStore, SessionManager, SignedIds, Store};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = std::sync::Arc::new(MemoryStore::new());
/// let ids = SignedIds::new(Keys::generate());
/// let manager = SessionManager::new(store.clone(), ids, Config::default());
/// let session = manager.start(&http::HeaderMap::new(), None);
/// session.insert("cart", 3)?;
/// let created = session.finish().await?;
/// assert_eq!(created.outcome(), CommitOutcome::Saved);
///
/// // The user signs out in another tab while this request writes without reading.
/// let mut request = http::HeaderMap::new();
/// let cookie = created.headers[0].1.to_str().unwrap().split(';').next().unwrap().to_owned();
/// request.insert(http::header::COOKIE, cookie.parse().unwrap());
/// let session = manager.start(&request, None);
/// session.insert("cart", 4)?;
/// store.delete(&session.current_key().unwrap()).await?;
/// let response = session.finish().await?;
/// assert_eq!(response.outcome(), CommitOutcome::Dropped); // nothing stored, cookie cleared
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// [`ResponseHeaders::outcome`]: crate::ResponseHeaders::outcome
/// [`Session::finish`]: crate::Session::finish
/// [`Session::commit`]: crate::Session::commit
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitOutcome {
    /// Nothing was written: the session was not used, only read, or only incremented (the
    /// store has those values already); its cookie may have been handed out again.
    #[default]
    Unchanged,
    /// The session was written: created, changed, rotated or touched.
    Saved,
    /// The session ended with nothing of this request lost: destroyed by this request, or
    /// found gone by a commit that only had its activity time to write. The cookie is cleared.
    Ended,
    /// The session ended elsewhere (a logout in another tab, a revocation, expiry) before this
    /// request's writes reached it: nothing was stored, the session is not recreated, and the
    /// cookie is cleared. The handler's answer may claim a change that did not happen.
    Dropped,
}

impl CommitOutcome {
    /// The outcome as the `sessile.commit` span's `outcome` field names it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            CommitOutcome::Unchanged => "unchanged",
            CommitOutcome::Saved => "saved",
            CommitOutcome::Ended => "ended",
            CommitOutcome::Dropped => "dropped",
        }
    }
}
