//! tower [`Layer`] and axum extractor for [`sessile`] sessions.
//!
//! [`SessionLayer`] gives every request a lazy [`sessile::Session`] and commits it after the
//! handler, in one store operation, adding the cookie (with `Cache-Control: no-store` and
//! `Vary: Cookie`) only when the response needs one. Handlers take the [`Session`] extractor and
//! may return [`Error`], which turns session failures into short 503/409/500 responses. A write
//! that the session's end elsewhere dropped is answered 409 ([`SessionLayer::on_dropped_write`]).
//!
//! A handler that never touches its session costs no store call.
//!
//! ```
//! use std::net::SocketAddr;
//!
//! use axum::routing::{get, post};
//! use axum::{Json, Router};
//! use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
//! use sessile_axum::{Error, Session, SessionLayer};
//!
//! async fn visits(session: Session) -> Result<Json<i64>, Error> {
//!     // One atomic store round trip; concurrent requests never lose a count.
//!     Ok(Json(session.increment("visits", 1).await?))
//! }
//!
//! async fn login(session: Session) -> Result<&'static str, Error> {
//!     session.user().await?; // load first, so a stale cookie starts a fresh session
//!     session.rotate_id(); // against session fixation
//!     session.set_user(Some("alice"));
//!     Ok("signed in")
//! }
//!
//! async fn logout(session: Session) -> &'static str {
//!     session.destroy();
//!     "signed out"
//! }
//!
//! async fn health() -> &'static str {
//!     "ok" // never touches the session: no store call, no cookie
//! }
//!
//! fn app(manager: SessionManager) -> Router {
//!     Router::new()
//!         .route("/visits", post(visits))
//!         .route("/login", post(login))
//!         .route("/logout", post(logout))
//!         .route("/health", get(health))
//!         .layer(SessionLayer::new(manager))
//! }
//!
//! # async fn serve() -> std::io::Result<()> {
//! let ids = SignedIds::new(Keys::generate());
//! let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! // With connect info, the layer records client addresses when `Config::record_ip` is on.
//! axum::serve(
//!     listener,
//!     app(manager).into_make_service_with_connect_info::<SocketAddr>(),
//! )
//! .await
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! #     use tower::ServiceExt;
//! #     let manager = SessionManager::new(MemoryStore::new(), SignedIds::new(Keys::generate()), Config::default());
//! #     let request = http::Request::post("/visits").body(axum::body::Body::empty()).unwrap();
//! #     let response = app(manager).oneshot(request).await.unwrap();
//! #     assert_eq!(response.status(), 200);
//! #     assert!(response.headers().contains_key("set-cookie"));
//! # });
//! ```

#![warn(missing_docs)]

pub mod csrf;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use csrf::{CsrfLayer, CsrfToken};

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{header, HeaderValue, Request, StatusCode};
use pin_project_lite::pin_project;
use sessile::{AfterHandler, CommitOutcome, ResponseHeaders, SessionError, SessionManager};
use tower_layer::Layer;
use tower_service::Service;

/// Body of the 503 answered when the session store is unreachable or too slow.
pub const UNAVAILABLE_BODY: &str = SessionError::UNAVAILABLE_BODY;
/// Body of the 500 answered for any other session failure.
pub const FAILURE_BODY: &str = SessionError::FAILURE_BODY;
/// Body of the 500 answered when a handler asks for a session without [`SessionLayer`].
pub const MISSING_LAYER_BODY: &str = "session layer missing";
/// Body of the 409 answered by default when the session ended elsewhere (a logout in another
/// tab, a revocation) before the request's writes reached it: see
/// [`SessionLayer::on_dropped_write`].
pub const SESSION_ENDED_BODY: &str = SessionError::SESSION_ENDED_BODY;

/// Adds sessions to every request of the wrapped service.
///
/// ```
/// use axum::{routing::get, Router};
/// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
/// use sessile_axum::SessionLayer;
///
/// let ids = SignedIds::new(Keys::generate());
/// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(SessionLayer::new(manager));
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct SessionLayer {
    manager: SessionManager,
    on_dropped_write: Option<DroppedWriteResponse>,
    manual_commit: bool,
}

/// Turns the handler's response into the one sent when its session writes were dropped.
type DroppedWriteResponse = Arc<dyn Fn(Response) -> Response + Send + Sync>;

impl SessionLayer {
    /// A layer that starts and commits sessions with `manager`.
    pub fn new(manager: SessionManager) -> Self {
        Self {
            manager,
            on_dropped_write: None,
            manual_commit: false,
        }
    }

    /// Manual-commit mode (koa-session's `autoCommit: false`): the layer does not commit after
    /// the handler; a handler that wants its session stored calls
    /// [`commit`](sessile::Session::commit) itself, and the layer adds that commit's headers
    /// (the cookie) to the response. A handler that does not commit stores nothing and sends
    /// no `Set-Cookie` (increments, which run in the store at once, stay): that includes the
    /// CSRF secret a [`CsrfToken`] creates on a session's first form, so a handler rendering
    /// one commits too. A second `commit`
    /// in one request is [`SessionError::Finished`]: nothing after the first can reach the
    /// store.
    ///
    /// The handler sees the outcome and any commit error, so it can answer them itself (the
    /// layer then leaves its response alone, [`SessionLayer::on_dropped_write`] included), and
    /// its session is stored before a streaming body starts.
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// use axum::{routing::post, Router};
    /// use sessile::{CommitOutcome, Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// use sessile_axum::{Session, SessionLayer};
    ///
    /// async fn save_settings(session: Session) -> (StatusCode, &'static str) {
    ///     if session.insert("theme", "dark").is_err() {
    ///         return (StatusCode::INTERNAL_SERVER_ERROR, "could not save");
    ///     }
    ///     match session.commit().await {
    ///         Ok(CommitOutcome::Dropped) => (StatusCode::UNAUTHORIZED, "please sign in again"),
    ///         Ok(_) => (StatusCode::OK, "saved"),
    ///         Err(error) if error.is_unavailable() => (StatusCode::SERVICE_UNAVAILABLE, "try later"),
    ///         Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "could not save"),
    ///     }
    /// }
    ///
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let app: Router = Router::new()
    ///     .route("/settings", post(save_settings))
    ///     .layer(SessionLayer::new(manager).manual_commit());
    /// # let _ = app;
    /// ```
    ///
    /// Without this mode a handler may still call `commit` early (to handle its outcome or
    /// error, or before streaming); the layer then adds that commit's headers instead of
    /// committing again.
    pub fn manual_commit(mut self) -> Self {
        self.manual_commit = true;
        self
    }

    /// What the client gets when the session ended elsewhere (a logout in another tab, a
    /// revocation, expiry) before the handler's writes reached it
    /// ([`sessile::CommitOutcome::Dropped`]): nothing was stored, so the handler's answer may
    /// claim a change that did not happen. `respond` receives the handler's response and
    /// returns the one to send; the layer then adds the cookie removal.
    ///
    /// By default the layer answers `409 Conflict` with the body [`SESSION_ENDED_BODY`] and
    /// `Cache-Control: no-store`, as it answers 500/503 when a commit fails: a client (or a
    /// script) that retries or shows "you were signed out" can tell. Pass `|response| response`
    /// to keep the handler's answer (what the layer did before), or redirect to a login page:
    ///
    /// ```
    /// use axum::response::{IntoResponse, Redirect};
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// use sessile_axum::SessionLayer;
    ///
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let layer = SessionLayer::new(manager)
    ///     .on_dropped_write(|_handler_response| Redirect::to("/login").into_response());
    /// # let _ = layer;
    /// ```
    ///
    /// A [`SessionError::Gone`] a handler returns as [`Error`] (from `increment`) gets the same
    /// default 409. A handler that commits itself ([`sessile::Session::commit`]) sees the
    /// outcome and answers as it chooses: the layer leaves its response alone.
    pub fn on_dropped_write(
        mut self,
        respond: impl Fn(Response) -> Response + Send + Sync + 'static,
    ) -> Self {
        self.on_dropped_write = Some(Arc::new(respond));
        self
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            manager: self.manager.clone(),
            on_dropped_write: self.on_dropped_write.clone(),
            manual_commit: self.manual_commit,
        }
    }
}

/// The service [`SessionLayer`] wraps around the app: starts the session before the inner
/// service and commits it after.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    manager: SessionManager,
    on_dropped_write: Option<DroppedWriteResponse>,
    manual_commit: bool,
}

impl<S, RequestBody> Service<Request<RequestBody>> for SessionService<S>
where
    S: Service<Request<RequestBody>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    RequestBody: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<RequestBody>) -> Self::Future {
        // The inner service is called here, synchronously, so the readiness `poll_ready` got
        // for it is the one this call uses: no per-request clone of it is needed.
        let client_ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        let session = self.manager.start(request.headers(), client_ip);
        request.extensions_mut().insert(session.clone());
        ResponseFuture {
            state: State::Handler {
                future: self.inner.call(request),
                session: Some(session),
                // `None` (the default response) costs no reference count per request.
                on_dropped_write: self.on_dropped_write.clone(),
                manual_commit: self.manual_commit,
            },
        }
    }
}

/// The commit of a session that the handler used: the one store operation, boxed.
type Commit = Pin<Box<dyn Future<Output = Result<ResponseHeaders, SessionError>> + Send>>;

pin_project! {
    /// The response future of [`SessionService`]: the inner service's future, then, only if
    /// the handler used its session, the commit. A request that never touches its session
    /// finishes without a store call or an allocation for the commit.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F> {
        Handler {
            #[pin]
            future: F,
            session: Option<sessile::Session>,
            on_dropped_write: Option<DroppedWriteResponse>,
            manual_commit: bool,
        },
        Committing {
            commit: Commit,
            response: Option<Response>,
            on_dropped_write: Option<DroppedWriteResponse>,
        },
        Done,
    }
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<R, E>>,
    R: IntoResponse,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProjection::Handler {
                    future,
                    session,
                    on_dropped_write,
                    manual_commit,
                } => {
                    let response = match ready!(future.poll(cx)) {
                        Ok(response) => response.into_response(),
                        Err(error) => {
                            state.set(State::Done);
                            return Poll::Ready(Err(error));
                        }
                    };
                    let session = session
                        .take()
                        .expect("the session is taken once, when the handler is done");
                    match session.after_handler(*manual_commit) {
                        AfterHandler::Nothing => {
                            state.set(State::Done);
                            return Poll::Ready(Ok(response));
                        }
                        AfterHandler::Committed(committed) => {
                            // The handler saw the outcome: its response stands.
                            let mut response = response;
                            committed.apply_to(response.headers_mut());
                            state.set(State::Done);
                            return Poll::Ready(Ok(response));
                        }
                        AfterHandler::Commit => {}
                    }
                    let commit: Commit = Box::pin(async move { session.finish().await });
                    let on_dropped_write = on_dropped_write.take();
                    state.set(State::Committing {
                        commit,
                        response: Some(response),
                        on_dropped_write,
                    });
                }
                StateProjection::Committing {
                    commit,
                    response,
                    on_dropped_write,
                } => {
                    let outcome = ready!(commit.as_mut().poll(cx));
                    let response = response
                        .take()
                        .expect("the response is taken once, when the commit is done");
                    let on_dropped_write = on_dropped_write.take();
                    state.set(State::Done);
                    return Poll::Ready(Ok(match outcome {
                        Ok(session_headers) => {
                            let mut response = match session_headers.outcome() {
                                CommitOutcome::Dropped => {
                                    dropped_write(response, on_dropped_write.as_deref())
                                }
                                _ => response,
                            };
                            session_headers.apply_to(response.headers_mut());
                            response
                        }
                        Err(error) => commit_failure(&error),
                    }));
                }
                StateProjection::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

/// The response that replaces the handler's when its session could not be committed: the
/// handler's answer would claim a change the store never saw.
fn commit_failure(error: &SessionError) -> Response {
    if error.is_unavailable() {
        tracing::error!(%error, "session commit failed: store unavailable");
    } else {
        tracing::error!(%error, "session commit failed");
    }
    failure_response(error)
}

/// The response sent instead of the handler's when its session writes were dropped.
fn dropped_write(
    response: Response,
    respond: Option<&(dyn Fn(Response) -> Response + Send + Sync)>,
) -> Response {
    tracing::info!("session ended while the request wrote to it: its writes were dropped");
    match respond {
        Some(respond) => respond(response),
        None => plain(StatusCode::CONFLICT, SESSION_ENDED_BODY),
    }
}

fn failure_response(error: &SessionError) -> Response {
    let (status, body) = error.response();
    plain(status, body)
}

fn plain(status: StatusCode, body: &'static str) -> Response {
    let mut response = (status, body).into_response();
    // An error page must not be cached as the answer for everyone.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The request's session, extracted in handlers: **the `Session` an axum handler takes.**
/// Dereferences to [`sessile::Session`], the engine's handle, so every method of that type
/// works on it. A handler whose argument is `sessile::Session` instead does not compile as a
/// handler (axum says only that `Handler<_, _>` is not implemented): import this one
/// (`use sessile_axum::Session;`), or [`into_inner`](Session::into_inner) it to pass the
/// engine's handle on.
///
/// Requires [`SessionLayer`]; without it extraction fails with 500 "session layer missing".
///
/// ```
/// use sessile_axum::{Error, Session};
///
/// async fn theme(session: Session) -> Result<String, Error> {
///     let theme: Option<String> = session.get("theme").await?;
///     Ok(theme.unwrap_or_else(|| "light".to_owned()))
/// }
/// # let _ = theme;
/// ```
#[derive(Clone, Debug)]
pub struct Session(pub sessile::Session);

impl Session {
    /// The underlying session handle.
    pub fn into_inner(self) -> sessile::Session {
        self.0
    }
}

impl Deref for Session {
    type Target = sessile::Session;

    fn deref(&self) -> &sessile::Session {
        &self.0
    }
}

/// Why [`Session`] could not be extracted: the request did not pass through [`SessionLayer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MissingSessionLayer;

impl std::fmt::Display for MissingSessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MISSING_LAYER_BODY)
    }
}

impl std::error::Error for MissingSessionLayer {}

impl IntoResponse for MissingSessionLayer {
    fn into_response(self) -> Response {
        tracing::error!("a handler extracts a session but SessionLayer is not installed");
        plain(StatusCode::INTERNAL_SERVER_ERROR, MISSING_LAYER_BODY)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = MissingSessionLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<sessile::Session>()
            .cloned()
            .map(Session)
            .ok_or(MissingSessionLayer)
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Session {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<sessile::Session>()
            .cloned()
            .map(Session))
    }
}

/// A session failure a handler returns with `?`: 503 "session store unavailable" when the store
/// is unreachable or timed out, 409 "session ended" when the session ended elsewhere while the
/// request used it ([`SessionError::Gone`], from `increment`), 413 "session too large" when a
/// commit would take the session over its size bound ([`SessionError::SessionTooLarge`]), 500
/// "session error" otherwise.
/// The details go to the log, never to the client.
///
/// ```
/// use sessile_axum::{Error, Session};
///
/// async fn count(session: Session) -> Result<String, Error> {
///     Ok(session.increment("count", 1).await?.to_string())
/// }
/// # let _ = count;
/// ```
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(#[from] pub SessionError);

impl Error {
    /// Whether the store was unreachable or too slow (answered with 503).
    pub fn is_unavailable(&self) -> bool {
        self.0.is_unavailable()
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.0.response().0
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if matches!(self.0, SessionError::Gone) {
            // Another request's logout, not a failure of this server.
            tracing::info!(error = %self.0, "session operation found the session ended");
        } else {
            tracing::error!(error = %self.0, "session operation failed");
        }
        failure_response(&self.0)
    }
}
