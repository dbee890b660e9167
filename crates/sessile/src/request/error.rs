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
    /// The store reported a collision for several freshly generated ids in a row.
    #[error("the store reported an id collision for {0} fresh ids in a row", 3)]
    IdCollisions,
    /// The session's request has finished (its response is sent or on its way), or the handler
    /// committed it ([`crate::Session::commit`]), so the session can no longer be read, changed
    /// or committed: a handle kept past the handler, say in a spawned task, or a second commit.
    /// Writes through methods that return nothing are ignored then, with a warning in the log.
    #[error("the session was committed or its request has finished; it can no longer be used")]
    Finished,
}

impl SessionError {
    /// Whether the store was unreachable or too slow: the response should be 503.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, SessionError::Store(StoreError::Unavailable(_)))
    }
}

impl From<SealError> for SessionError {
    fn from(error: SealError) -> Self {
        match error {
            SealError::TooLarge { size, limit } => SessionError::CookieTooLarge { size, limit },
        }
    }
}
