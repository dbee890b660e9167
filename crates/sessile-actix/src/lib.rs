//! actix-web middleware and extractor for [`sessile`] sessions.
//!
//! [`SessionMiddleware`] gives every request a lazy [`sessile::Session`] and commits it after
//! the handler, in one store operation, adding the cookie (with `Cache-Control: no-store` and
//! `Vary: Cookie`) only when the response needs one. Handlers take the [`Session`] extractor and
//! may return [`Error`], which turns session failures into short 503/409/500 responses through
//! actix's [`ResponseError`]. A write that the session's end elsewhere dropped is answered 409
//! ([`SessionMiddleware::on_dropped_write`]).
//!
//! A handler that never touches its session costs no store call and no signature check.
//!
//! ```
//! use actix_web::{web, App, HttpServer};
//! use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
//! use sessile_actix::{Error, Session, SessionMiddleware};
//!
//! async fn visits(session: Session) -> Result<String, Error> {
//!     // One atomic store round trip; concurrent requests never lose a count.
//!     Ok(session.increment("visits", 1).await?.to_string())
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
//! # fn serve() -> std::io::Result<()> {
//! let ids = SignedIds::new(Keys::generate());
//! let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
//! actix_web::rt::System::new().block_on(
//!     HttpServer::new(move || {
//!         App::new()
//!             .wrap(SessionMiddleware::new(manager.clone()))
//!             .route("/visits", web::post().to(visits))
//!             .route("/login", web::post().to(login))
//!             .route("/logout", web::post().to(logout))
//!             .route("/health", web::get().to(health))
//!     })
//!     .bind(("127.0.0.1", 8080))?
//!     .run(),
//! )
//! # }
//! # actix_web::rt::System::new().block_on(async {
//! #     use actix_web::test;
//! #     let manager = SessionManager::new(MemoryStore::new(), SignedIds::new(Keys::generate()), Config::default());
//! #     let app = test::init_service(
//! #         App::new().wrap(SessionMiddleware::new(manager)).route("/visits", web::post().to(visits)),
//! #     ).await;
//! #     let response = test::call_service(&app, test::TestRequest::post().uri("/visits").to_request()).await;
//! #     assert_eq!(response.status(), 200);
//! #     assert!(response.headers().contains_key("set-cookie"));
//! # });
//! ```
//!
//! actix-web 4 is built on `http` 0.2, the core on `http` 1: the middleware converts the two
//! request headers the core reads (the session's carrier and `User-Agent`) and the few headers
//! a commit adds, once per request, and nothing else.

#![warn(missing_docs)]

pub mod csrf;

pub use csrf::{CsrfMiddleware, CsrfToken};

use std::future::{ready, Future, Ready};
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use sessile::{AfterHandler, CommitOutcome, ResponseHeaders, SessionError, SessionManager};

/// Body of the 503 answered when the session store is unreachable or too slow.
pub const UNAVAILABLE_BODY: &str = SessionError::UNAVAILABLE_BODY;
/// Body of the 500 answered for any other session failure.
pub const FAILURE_BODY: &str = SessionError::FAILURE_BODY;
/// Body of the 500 answered when a handler asks for a session without [`SessionMiddleware`].
pub const MISSING_MIDDLEWARE_BODY: &str = "session middleware missing";
/// Body of the 409 answered by default when the session ended elsewhere (a logout in another
/// tab, a revocation) before the request's writes reached it: see
/// [`SessionMiddleware::on_dropped_write`].
pub const SESSION_ENDED_BODY: &str = SessionError::SESSION_ENDED_BODY;

/// Turns the handler's response into the one sent when its session writes were dropped.
type DroppedWriteResponse = Arc<dyn Fn(HttpResponse) -> HttpResponse + Send + Sync>;

/// Adds sessions to every request of the wrapped app or scope.
///
/// ```
/// use actix_web::{web, App};
/// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
/// use sessile_actix::SessionMiddleware;
///
/// let ids = SignedIds::new(Keys::generate());
/// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
/// let app = App::new()
///     .wrap(SessionMiddleware::new(manager))
///     .route("/", web::get().to(|| async { "hello" }));
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct SessionMiddleware {
    manager: SessionManager,
    on_dropped_write: Option<DroppedWriteResponse>,
    manual_commit: bool,
}

impl SessionMiddleware {
    /// A middleware that starts and commits sessions with `manager`.
    pub fn new(manager: SessionManager) -> Self {
        Self {
            manager,
            on_dropped_write: None,
            manual_commit: false,
        }
    }

    /// Manual-commit mode (koa-session's `autoCommit: false`): the middleware does not commit
    /// after the handler; a handler that wants its session stored calls
    /// [`commit`](sessile::Session::commit) itself and sees the outcome and any error, and the
    /// middleware adds that commit's headers (the cookie) to the response. A handler that does
    /// not commit stores nothing and sends no `Set-Cookie` (increments, which run in the store
    /// at once, stay). The same mode as `sessile_axum::SessionLayer::manual_commit`.
    ///
    /// ```
    /// use actix_web::{web, App, HttpResponse};
    /// use sessile::{CommitOutcome, Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// use sessile_actix::{Session, SessionMiddleware};
    ///
    /// async fn save_settings(session: Session) -> HttpResponse {
    ///     if session.insert("theme", "dark").is_err() {
    ///         return HttpResponse::InternalServerError().body("could not save");
    ///     }
    ///     match session.commit().await {
    ///         Ok(CommitOutcome::Dropped) => HttpResponse::Unauthorized().body("please sign in again"),
    ///         Ok(_) => HttpResponse::Ok().body("saved"),
    ///         Err(error) if error.is_unavailable() => HttpResponse::ServiceUnavailable().finish(),
    ///         Err(_) => HttpResponse::InternalServerError().body("could not save"),
    ///     }
    /// }
    ///
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let app = App::new()
    ///     .wrap(SessionMiddleware::new(manager).manual_commit())
    ///     .route("/settings", web::post().to(save_settings));
    /// # let _ = app;
    /// ```
    pub fn manual_commit(mut self) -> Self {
        self.manual_commit = true;
        self
    }

    /// What the client gets when the session ended elsewhere (a logout in another tab, a
    /// revocation, expiry) before the handler's writes reached it
    /// ([`CommitOutcome::Dropped`]): nothing was stored, so the handler's answer may claim a
    /// change that did not happen. `respond` receives the handler's response and returns the
    /// one to send; the middleware then adds the cookie removal.
    ///
    /// By default the middleware answers `409 Conflict` with the body [`SESSION_ENDED_BODY`]
    /// and `Cache-Control: no-store`. Pass `|response| response` to keep the handler's answer,
    /// or redirect to a login page:
    ///
    /// ```
    /// use actix_web::HttpResponse;
    /// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
    /// use sessile_actix::SessionMiddleware;
    ///
    /// let ids = SignedIds::new(Keys::generate());
    /// let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    /// let middleware = SessionMiddleware::new(manager).on_dropped_write(|_handler_response| {
    ///     HttpResponse::SeeOther().insert_header(("location", "/login")).finish()
    /// });
    /// # let _ = middleware;
    /// ```
    pub fn on_dropped_write(
        mut self,
        respond: impl Fn(HttpResponse) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.on_dropped_write = Some(Arc::new(respond));
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionService {
            service: Rc::new(service),
            settings: Rc::new(self.clone()),
        }))
    }
}

/// The service [`SessionMiddleware`] wraps around the app: starts the session before the inner
/// service and commits it after.
pub struct SessionService<S> {
    service: Rc<S>,
    settings: Rc<SessionMiddleware>,
}

impl<S, B> Service<ServiceRequest> for SessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let settings = self.settings.clone();
        let session = settings.manager.start(
            &session_request_headers(&request, settings.manager.id_header()),
            request.peer_addr().map(|address| address.ip()),
        );
        request.extensions_mut().insert(session.clone());
        let handler = self.service.call(request);
        Box::pin(async move {
            let response = handler.await?;
            match session.after_handler(settings.manual_commit) {
                AfterHandler::Nothing => return Ok(response.map_into_left_body()),
                // The handler saw the outcome: its response stands.
                AfterHandler::Committed(committed) => {
                    return Ok(with_session_headers(response, committed).map_into_left_body())
                }
                AfterHandler::Commit => {}
            }
            Ok(match session.finish().await {
                Ok(committed) if committed.outcome() == CommitOutcome::Dropped => {
                    tracing::info!(
                        "session ended while the request wrote to it: its writes were dropped"
                    );
                    let (request, handler_response) = response.into_parts();
                    let replaced = match &settings.on_dropped_write {
                        Some(respond) => respond(handler_response.map_into_boxed_body()),
                        None => plain(StatusCode::CONFLICT, SESSION_ENDED_BODY),
                    };
                    let response = ServiceResponse::new(request, replaced);
                    with_session_headers(response, committed).map_into_right_body()
                }
                Ok(committed) => with_session_headers(response, committed).map_into_left_body(),
                Err(error) => {
                    if error.is_unavailable() {
                        tracing::error!(%error, "session commit failed: store unavailable");
                    } else {
                        tracing::error!(%error, "session commit failed");
                    }
                    // The handler's answer would claim a change the store never saw.
                    let (request, _) = response.into_parts();
                    ServiceResponse::new(request, failure_response(&error)).map_into_right_body()
                }
            })
        })
    }
}

/// The request headers the core reads, in its `http` 1 types: the session's carrier (every
/// value, as a request may carry several `Cookie` lines) and `User-Agent`.
fn session_request_headers(
    request: &ServiceRequest,
    carrier: &http::HeaderName,
) -> http::HeaderMap {
    let mut converted = http::HeaderMap::new();
    for name in [carrier, &http::header::USER_AGENT] {
        for value in request.headers().get_all(name.as_str()) {
            // actix checked the bytes already; both crates accept the same ones.
            if let Ok(value) = http::HeaderValue::from_bytes(value.as_bytes()) {
                converted.append(name.clone(), value);
            }
        }
    }
    converted
}

/// The response with the commit's headers, added as [`ResponseHeaders::apply_to`] adds them.
fn with_session_headers<B>(
    mut response: ServiceResponse<B>,
    committed: ResponseHeaders,
) -> ServiceResponse<B> {
    if committed.is_empty() {
        return response;
    }
    let mut session_headers = http::HeaderMap::new();
    committed.apply_to(&mut session_headers);
    let headers = response.headers_mut();
    for (name, value) in &session_headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) else {
            continue;
        };
        // The core replaces the handler's caching directive and adds to everything else.
        if name == header::CACHE_CONTROL {
            headers.insert(name, value);
        } else {
            headers.append(name, value);
        }
    }
    response
}

fn failure_response(error: &SessionError) -> HttpResponse {
    let (status, body) = error.response();
    plain(status_of(status), body)
}

/// The core's status in actix's `http` 0.2 type.
fn status_of(status: http::StatusCode) -> StatusCode {
    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn plain(status: StatusCode, body: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        // An error page must not be cached as the answer for everyone.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

/// The request's session, extracted in handlers. Dereferences to [`sessile::Session`].
///
/// Requires [`SessionMiddleware`]; without it extraction fails with 500 "session middleware
/// missing". `Option<Session>` extracts `None` instead.
///
/// ```
/// use sessile_actix::{Error, Session};
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

impl FromRequest for Session {
    type Error = MissingSessionMiddleware;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            request
                .extensions()
                .get::<sessile::Session>()
                .cloned()
                .map(Session)
                .ok_or(MissingSessionMiddleware),
        )
    }
}

/// Why [`Session`] could not be extracted: the request did not pass through
/// [`SessionMiddleware`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("session middleware missing")]
pub struct MissingSessionMiddleware;

impl ResponseError for MissingSessionMiddleware {
    fn error_response(&self) -> HttpResponse<BoxBody> {
        tracing::error!("a handler extracts a session but SessionMiddleware is not installed");
        plain(StatusCode::INTERNAL_SERVER_ERROR, MISSING_MIDDLEWARE_BODY)
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
/// use sessile_actix::{Error, Session};
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
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        status_of(self.0.response().0)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        if matches!(self.0, SessionError::Gone) {
            // Another request's logout, not a failure of this server.
            tracing::info!(error = %self.0, "session operation found the session ended");
        } else {
            tracing::error!(error = %self.0, "session operation failed");
        }
        failure_response(&self.0)
    }
}
