//! The session manager: builds each request's [`Session`] and holds what they share.

use std::net::IpAddr;
use std::sync::Arc;

use http::{header, HeaderMap, HeaderName, HeaderValue};

use crate::codec::{CookieCodec, IdCodec};
#[cfg(doc)]
use crate::codec::{SealedCookies, SignedIds};
use crate::config::Config;
use crate::events::Event;
use crate::record::Record;
use crate::revocation::RevocationList;
use crate::store::{Store, StoreError};
use crate::telemetry::{Metered, Operation, Telemetry};

use super::state::{IdHeaders, RequestFacts, RequestState};
use super::{Backend, CommitOutcome, Hooks, Session, SessionError, Shared, StoreBackend};

/// Creates each request's [`Session`] and turns it into response headers afterwards. Framework
/// adapters (`sessile-axum`) hold one; it is cheap to clone.
///
/// Two ways in: [`SessionManager::new`] keeps sessions in a server-side [`Store`] and hands the
/// client an id ([`IdCodec`]: sessile's [`SignedIds`], or a Node app's cookie from
/// `sessile-node`); [`SessionManager::client_side`] keeps the whole session in the client's
/// cookie ([`CookieCodec`]: sessile's [`SealedCookies`], or a koa-session cookie). The keys
/// belong to the codec that signs or seals with them; [`Config`] holds what applies to both.
///
/// ```
/// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
/// let ids = SignedIds::new(Keys::generate());
/// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
/// let session = manager.start(&http::HeaderMap::new(), None);
/// assert!(session.current_key().is_none());
/// ```
#[derive(Clone)]
pub struct SessionManager {
    shared: Arc<Shared>,
}

impl SessionManager {
    /// Sessions kept in `store`, named by the ids `ids` reads and issues. Pass an `Arc` of the
    /// store to keep using it elsewhere (an admin page, a cleanup task): a shared store is a
    /// store, and so is a shared codec.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// let store = Arc::new(MemoryStore::new());
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(store.clone(), ids, Config::default());
    /// # let _ = (manager, store);
    /// ```
    pub fn new(store: impl Store, ids: impl IdCodec, config: Config) -> Self {
        let name = store.name();
        Self::build(
            Backend::Store(Arc::new(StoreBackend {
                store: Arc::new(store),
                ids: Arc::new(ids),
            })),
            config,
            name,
        )
    }

    /// Sessions kept entirely in the client's cookies, sealed and opened by `cookies`: no
    /// server state.
    ///
    /// ```
    /// use sessile::{Config, Keys, SealedCookies, SessionManager};
    /// let cookies = SealedCookies::new(Keys::generate());
    /// let manager = SessionManager::client_side(cookies, Config::default());
    /// assert!(manager.store().is_none());
    /// ```
    pub fn client_side(cookies: impl CookieCodec, config: Config) -> Self {
        Self::build(Backend::Cookie(Arc::new(cookies)), config, "cookie")
    }

    /// `store` names the store in metrics and spans. The metric handles are registered here,
    /// so the application installs its metrics recorder before building the manager.
    fn build(backend: Backend, mut config: Config, store: &'static str) -> Self {
        for warning in config.warnings() {
            tracing::warn!("sessile configuration: {warning}");
        }
        let telemetry = Arc::new(Telemetry::new(store));
        config.events = Arc::new(Metered {
            telemetry: Arc::clone(&telemetry),
            events: config.events,
        });
        Self {
            shared: Arc::new(Shared {
                config,
                hooks: Hooks::default(),
                backend,
                telemetry,
            }),
        }
    }

    /// Checks every loaded session: `false` discards it and the request starts a fresh one, as
    /// koa-session's `valid` hook does (sign out sessions older than a password change, say).
    ///
    /// It applies on every path that acts on an existing session, so with a hook configured,
    /// writes without a read and `increment` load the session first (one more store call each)
    /// instead of writing blind: a refused session is never written to, touched or kept alive.
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default())
    ///     .with_validity_check(|record| record.user.as_deref() != Some("banned"));
    /// # let _ = manager;
    /// ```
    pub fn with_validity_check(
        mut self,
        check: impl Fn(&Record) -> bool + Send + Sync + 'static,
    ) -> Self {
        Arc::make_mut(&mut self.shared).hooks.validity_check = Some(Arc::new(check));
        self
    }

    /// Runs `hook` before a session with changes is committed; it may add changes, as
    /// koa-session's `beforeSave` does (stamp the time of the last change, say). The session is
    /// loaded before the hook runs when the commit needs its record anyway.
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default())
    ///     .with_before_save(|session| {
    ///         session.insert("saved_by", "sessile").expect("a string converts to JSON");
    ///     });
    /// # let _ = manager;
    /// ```
    pub fn with_before_save(mut self, hook: impl Fn(&Session) + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.shared).hooks.before_save = Some(Arc::new(hook));
        self
    }

    /// Checks every signed-in cookie session against `revocations` when it is opened: one
    /// created before its user's "not before" time is no session (event
    /// [`crate::Event::Invalidated`]), so [`SessionManager::revoke_user`] signs the user out
    /// of copies of the cookie too. One lookup per request that opens a signed-in cookie
    /// session; anonymous ones and server-side sessions cost nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile::revocation::StoreRevocations;
    /// use sessile::{Config, Keys, MemoryStore, SealedCookies, SessionManager};
    /// let revocations = StoreRevocations::new(MemoryStore::new(), Duration::from_secs(12 * 3600));
    /// let manager = SessionManager::client_side(SealedCookies::new(Keys::generate()), Config::default())
    ///     .with_revocations(revocations);
    /// # let _ = manager;
    /// ```
    pub fn with_revocations(mut self, revocations: impl RevocationList) -> Self {
        Arc::make_mut(&mut self.shared).hooks.revocations = Some(Arc::new(revocations));
        self
    }

    /// Signs `user` out everywhere: sets the user's "not before" time to now in the
    /// [`RevocationList`] (if the manager has one), so every cookie session of the user
    /// created until now is refused, copies included, and deletes the user's server-side
    /// sessions (if sessions live in a store); how many of those were deleted.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] for cookie sessions without a revocation list: nothing
    /// could revoke them. A store error otherwise.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile::revocation::StoreRevocations;
    /// use sessile::{Config, Keys, MemoryStore, SealedCookies, SessionManager};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let revocations = StoreRevocations::new(MemoryStore::new(), Duration::from_secs(12 * 3600));
    /// let manager = SessionManager::client_side(SealedCookies::new(Keys::generate()), Config::default())
    ///     .with_revocations(revocations);
    /// assert_eq!(manager.revoke_user("ada").await?, 0);
    /// # Ok::<(), sessile::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn revoke_user(&self, user: &str) -> Result<u64, SessionError> {
        let shared = &self.shared;
        let now = shared.now();
        let revocations = shared.hooks.revocations.as_ref();
        if let Some(list) = revocations {
            shared
                .call(Operation::Update, list.revoke(user, now))
                .await?;
        }
        match (&shared.backend, revocations) {
            (Backend::Store(_), _) => self.delete_user_sessions(user).await,
            (Backend::Cookie(_), Some(_)) => Ok(0),
            (Backend::Cookie(_), None) => Err(StoreError::Unsupported(
                "revoking cookie sessions without a revocation list (SessionManager::with_revocations)",
            )
            .into()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The server-side store, if sessions are not kept in cookies.
    pub fn store(&self) -> Option<&Arc<dyn Store>> {
        match &self.shared.backend {
            Backend::Store(backend) => Some(&backend.store),
            Backend::Cookie(_) => None,
        }
    }

    /// Deletes every session of `user`: signs them out everywhere, for a password reset or a
    /// locked account; how many. Bounded by the store timeout; emits
    /// [`crate::Event::UserSessionsDeleted`]. Cookie sessions keep no per-user index and cannot
    /// be revoked before they expire: that is [`StoreError::Unsupported`].
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let session = manager.start(&http::HeaderMap::new(), None);
    /// session.set_user(Some("ada"));
    /// session.finish().await?;
    /// assert_eq!(manager.delete_user_sessions("ada").await?, 1);
    /// # Ok::<(), sessile::SessionError>(())
    /// # }).unwrap();
    /// ```
    pub async fn delete_user_sessions(&self, user: &str) -> Result<u64, SessionError> {
        let Backend::Store(backend) = &self.shared.backend else {
            return Err(StoreError::Unsupported(
                "cookie sessions keep no per-user index; they end at their deadline",
            )
            .into());
        };
        let count = self
            .shared
            .call(
                Operation::DeleteUserSessions,
                backend.store.delete_user_sessions(user, None),
            )
            .await?;
        self.shared.config.events.emit(&Event::UserSessionsDeleted {
            user: user.to_owned(),
            count,
        });
        Ok(count)
    }

    /// The request header the session travels in: `Cookie`, or the header an API codec names
    /// (`with_header`). With [`header::USER_AGENT`], the only request header
    /// [`SessionManager::start`] reads, so an adapter whose framework has other `http` types
    /// converts just these two.
    ///
    /// ```
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// assert_eq!(manager.id_header(), http::header::COOKIE);
    /// ```
    pub fn id_header(&self) -> &HeaderName {
        match &self.shared.backend {
            Backend::Store(backend) => backend.ids.header(),
            Backend::Cookie(codec) => codec.header(),
        }
    }

    /// Starts the request's session. It only keeps the headers it needs: the id is checked
    /// (shape, then signature) on first use, so a handler that never touches its session pays
    /// neither a store call nor the signature check. A malformed or badly signed id becomes a
    /// fresh session then, before any store is asked.
    pub fn start(&self, headers: &HeaderMap, client_ip: Option<IpAddr>) -> Session {
        let carrier = self.id_header();
        // One pass over the headers instead of two hashed lookups; a request rarely carries
        // more than a dozen.
        let mut id_headers = IdHeaders::None;
        let mut user_agent = None;
        for (name, value) in headers {
            if name == carrier {
                id_headers.push(value.clone());
            } else if name == header::USER_AGENT && user_agent.is_none() {
                user_agent = Some(value.clone());
            }
        }
        Session::new(
            self.shared.clone(),
            RequestState::new(RequestFacts {
                id_headers,
                user_agent,
                client_ip,
            }),
        )
    }
}

/// What the response must carry after the commit: `Set-Cookie` or the id header. When it is not
/// empty, adapters also add `Cache-Control: no-store` and `Vary: Cookie`.
#[derive(Debug, Default)]
pub struct ResponseHeaders {
    /// Headers to append to the response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub(super) outcome: CommitOutcome,
    /// Where the committed session's data now lives, for [`crate::Session::stored_data`].
    pub(super) stored: Option<Stored>,
}

/// Where a commit left the session's data.
#[derive(Debug)]
pub(super) enum Stored {
    /// In the store, under this key.
    Key(crate::id::StoreKey),
    /// In the sealed cookie: this data, exactly.
    Sealed(Box<crate::record::SessionData>),
}

impl ResponseHeaders {
    /// What the commit did with the session; [`CommitOutcome::Dropped`] when the request's
    /// writes were lost because the session ended meanwhile.
    pub fn outcome(&self) -> CommitOutcome {
        self.outcome
    }

    /// Whether the response needs no session header.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// Appends the session headers, with `Cache-Control: no-store` and `Vary: Cookie` when there
    /// are any, so no shared cache keeps a response that hands out a session.
    pub fn apply_to(self, response_headers: &mut HeaderMap) {
        if self.headers.is_empty() {
            return;
        }
        for (name, value) in self.headers {
            response_headers.append(name, value);
        }
        response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response_headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    }
}
