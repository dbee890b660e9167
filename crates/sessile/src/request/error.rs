//! Why a session operation failed.

use crate::codec::SealError;
use crate::store::StoreError;

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The store failed or did not answer in time; adapters answer 503 for `Unavailable`.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value could not be converted to or from JSON.
    #[error("session value for {key:?} does not convert: {source}")]
    Value {
        /// The data key.
        key: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// `increment` on a key that holds something other than an integer, or past `i64`.
    #[error("session value for {key:?} is not an integer that can be incremented")]
    NotAnInteger {
        /// The data key.
        key: String,
    },
    /// The session was deleted elsewhere (logout, revocation) while this request used it.
    #[error("the session ended while this request was using it")]
    Gone,
    /// The cookie store's cookie would exceed the browser limit.
    #[error("the session cookie would be {size} bytes, over the {limit}-byte limit; store less in the session or use a server-side store")]
    CookieTooLarge {
        /// The `Set-Cookie` value's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The session's data would exceed [`crate::ConfigBuilder::max_session_bytes`]: nothing of
    /// the commit was written. Adapters answer 413: what the client sent made it grow.
    #[error("the session's data would be {size} bytes, over the {limit}-byte limit")]
    SessionTooLarge {
        /// The data's size as JSON (for a write that never read the session: what it writes).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A sign-in would take its user past [`crate::ConfigBuilder::max_sessions_per_user`]
    /// and the limit's policy refuses it: nothing of the commit was written, the session stays
    /// as it was. Adapters answer 403: the user signs out elsewhere first.
    #[error("the user already holds the most sessions the per-user limit allows")]
    TooManySessions,
    /// The store reported a collision for several freshly generated ids in a row.
    #[error("the store reported an id collision for {0} fresh ids in a row", 3)]
    IdCollisions,
    /// The session's request has finished (its response is sent or on its way), or the handler
    /// committed it ([`crate::Session::commit`]), so the session can no longer be read, changed
    /// or committed: a handle kept past the handler, say in a spawned task, or a second commit.
    /// Writes through methods that return nothing are ignored then, with a warning in the log.
    #[error("the session was committed or its request has finished; it can no longer be used")]
    Finished,
    /// The request's document operations ([`crate::Session::push`] and friends) do not fit
    /// the session's data: nothing of the commit was written. Adapters answer 500: the data's
    /// shape is the application's, not the client's doing.
    #[error("session operation refused: {0}")]
    Operation(#[from] crate::document::OperationError),
}

impl SessionError {
    /// Body of the 503 answered when the session store is unreachable or too slow.
    pub const UNAVAILABLE_BODY: &'static str = "session store unavailable";
    /// Body of the 409 answered when the session ended elsewhere while the request used it.
    pub const SESSION_ENDED_BODY: &'static str = "session ended";
    /// Body of the 413 answered when a commit would take a session over its size limit.
    pub const TOO_LARGE_BODY: &'static str = "session too large";
    /// Body of the 403 answered when a sign-in is refused by the per-user session limit.
    pub const TOO_MANY_SESSIONS_BODY: &'static str = "too many sessions";
    /// Body of the 500 answered for any other session failure.
    pub const FAILURE_BODY: &'static str = "session error";

    /// Whether the store was unreachable or too slow: the response should be 503.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, SessionError::Store(StoreError::Unavailable(_)))
    }

    /// The status and short body every adapter answers this error with: 503
    /// [`UNAVAILABLE_BODY`](Self::UNAVAILABLE_BODY) when the store is unreachable or too slow,
    /// 409 [`SESSION_ENDED_BODY`](Self::SESSION_ENDED_BODY) when the session ended elsewhere
    /// while the request used it ([`SessionError::Gone`]), 413
    /// [`TOO_LARGE_BODY`](Self::TOO_LARGE_BODY) for [`SessionError::SessionTooLarge`], 403
    /// [`TOO_MANY_SESSIONS_BODY`](Self::TOO_MANY_SESSIONS_BODY) for a sign-in the per-user
    /// limit refused ([`SessionError::TooManySessions`]), 500
    /// [`FAILURE_BODY`](Self::FAILURE_BODY) otherwise. The details belong in the log, never in
    /// the response.
    ///
    /// ```
    /// use sessile::SessionError;
    /// assert_eq!(SessionError::Gone.response(), (http::StatusCode::CONFLICT, "session ended"));
    /// ```
    pub fn response(&self) -> (http::StatusCode, &'static str) {
        if self.is_unavailable() {
            (
                http::StatusCode::SERVICE_UNAVAILABLE,
                Self::UNAVAILABLE_BODY,
            )
        } else if matches!(self, SessionError::Gone) {
            (http::StatusCode::CONFLICT, Self::SESSION_ENDED_BODY)
        } else if matches!(self, SessionError::SessionTooLarge { .. }) {
            (http::StatusCode::PAYLOAD_TOO_LARGE, Self::TOO_LARGE_BODY)
        } else if matches!(self, SessionError::TooManySessions) {
            (http::StatusCode::FORBIDDEN, Self::TOO_MANY_SESSIONS_BODY)
        } else {
            (http::StatusCode::INTERNAL_SERVER_ERROR, Self::FAILURE_BODY)
        }
    }
}

impl From<SealError> for SessionError {
    fn from(error: SealError) -> Self {
        match error {
            SealError::TooLarge { size, limit } => SessionError::CookieTooLarge { size, limit },
        }
    }
}
