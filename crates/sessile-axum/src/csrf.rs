//! CSRF protection as a tower layer: [`CsrfLayer`] rejects unsafe requests without a valid token,
//! and the [`CsrfToken`] extractor gives pages the token to embed.
//!
//! Tokens come from [`sessile::csrf`]: bound to the session, different on every page, checked in
//! constant time. A request whose method is not GET, HEAD, OPTIONS or TRACE must carry one, in the
//! `x-csrf-token` header or, for an `application/x-www-form-urlencoded` body, in the `_csrf` field
//! (both names configurable). Otherwise it is answered with 403 [`REJECTED_BODY`]. To read the
//! field the layer buffers the form body, up to [`DEFAULT_BODY_LIMIT`] (413 [`TOO_LARGE_BODY`]
//! beyond), and hands it on unchanged, so the handler still extracts the form. Other bodies
//! (JSON, multipart) must send the header.
//!
//! **Order:** the layer needs the request's session, so it must run *inside* [`SessionLayer`].
//! With `Router::layer`, the layer added last runs first, so add [`CsrfLayer`] before
//! [`SessionLayer`]; with `tower::ServiceBuilder`, the first layer added is the outermost, so add
//! [`SessionLayer`] first. Without a session the layer answers unsafe requests with 500
//! [`MISSING_LAYER_BODY`].
//!
//! [`SessionLayer`]: crate::SessionLayer
//! [`MISSING_LAYER_BODY`]: crate::MISSING_LAYER_BODY
//!
//! ```
//! use axum::routing::get;
//! use axum::{Form, Router};
//! use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
//! use sessile_axum::csrf::{CsrfLayer, CsrfToken};
//! use sessile_axum::SessionLayer;
//!
//! async fn page(CsrfToken(token): CsrfToken) -> axum::response::Html<String> {
//!     axum::response::Html(format!(
//!         r#"<form method="post"><input type="hidden" name="_csrf" value="{token}"><button>Send</button></form>"#
//!     ))
//! }
//!
//! async fn submit(Form(form): Form<Vec<(String, String)>>) -> String {
//!     // Reached only with a valid token; the form is intact.
//!     format!("{} fields", form.len())
//! }
//!
//! let ids = SignedIds::new(Keys::generate());
//! let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
//! let app: Router = Router::new()
//!     .route("/", get(page).post(submit))
//!     .layer(CsrfLayer::new()) // inner: checks tokens
//!     .layer(SessionLayer::new(manager)); // outer: provides the session
//! # let _ = app;
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{header, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sessile::csrf::{Csrf, Guard};
use tower_layer::Layer;
use tower_service::Service;

use crate::{Error, MissingSessionLayer};

pub use sessile::csrf::{DEFAULT_BODY_LIMIT, DEFAULT_FORM_FIELD, DEFAULT_HEADER};
/// Body of the 403 answered when the token is missing or invalid.
pub const REJECTED_BODY: &str = "invalid or missing CSRF token";
/// Body of the 413 answered when a form body exceeds the limit.
pub const TOO_LARGE_BODY: &str = "form body too large";
/// Body of the 400 answered when the form body could not be read.
pub const UNREADABLE_BODY: &str = "form body could not be read";

/// Rejects unsafe requests that carry no valid CSRF token; see the [module docs](self).
///
/// ```
/// use sessile::csrf::{Csrf, Guard};
/// use sessile_axum::csrf::CsrfLayer;
///
/// // Share tokens with a koa-csrf app: its scheme, its header, its session key.
/// let layer = CsrfLayer::new()
///     .with_csrf(Csrf::node_compatible())
///     .with_header(http::HeaderName::from_static("csrf-token"))
///     .exempt_prefix("/webhooks/");
/// # let _ = layer;
/// ```
#[derive(Clone, Default)]
pub struct CsrfLayer {
    guard: Arc<Guard>,
}

impl CsrfLayer {
    /// The masked scheme ([`Csrf::default`]), header [`DEFAULT_HEADER`], form field
    /// [`DEFAULT_FORM_FIELD`], body limit [`DEFAULT_BODY_LIMIT`], no exempt paths.
    pub fn new() -> Self {
        Self::default()
    }

    fn edit(mut self, change: impl FnOnce(Guard) -> Guard) -> Self {
        let guard = Arc::make_mut(&mut self.guard);
        *guard = change(std::mem::take(guard));
        self
    }

    /// Uses another scheme or session key, e.g. [`Csrf::node_compatible`]. [`CsrfToken`] issues
    /// tokens with the same configuration.
    pub fn with_csrf(self, csrf: Csrf) -> Self {
        self.edit(|guard| guard.with_csrf(csrf))
    }

    /// Reads the token from another header.
    pub fn with_header(self, header: HeaderName) -> Self {
        self.edit(|guard| guard.with_header(header))
    }

    /// Reads the token from another form field.
    pub fn with_form_field(self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.edit(|guard| guard.with_form_field(field))
    }

    /// Buffers form bodies up to `bytes` (larger ones get 413).
    pub fn with_body_limit(self, bytes: usize) -> Self {
        self.edit(|guard| guard.with_body_limit(bytes))
    }

    /// Lets unsafe requests to exactly `path` through without a token (e.g. a webhook that
    /// authenticates itself).
    pub fn exempt_path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.edit(|guard| guard.exempt_path(path))
    }

    /// Lets unsafe requests to every path that starts with `prefix` through without a token.
    pub fn exempt_prefix(self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.edit(|guard| guard.exempt_prefix(prefix))
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            guard: self.guard.clone(),
        }
    }
}

/// The service [`CsrfLayer`] wraps around the app.
#[derive(Clone)]
pub struct CsrfService<S> {
    inner: S,
    guard: Arc<Guard>,
}

impl<S> Service<Request<Body>> for CsrfService<S>
where
    S: Service<Request<Body>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The clone is not ready yet; keep the one `poll_ready` prepared and leave the clone here.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let guard = self.guard.clone();
        request
            .extensions_mut()
            .insert(CsrfConfig(guard.csrf().clone()));
        Box::pin(async move {
            if !guard.needs_token(request.method().as_str(), request.uri().path()) {
                return Ok(inner.call(request).await?.into_response());
            }
            match check(&guard, request).await {
                Ok(request) => Ok(inner.call(request).await?.into_response()),
                Err(rejection) => Ok(rejection),
            }
        })
    }
}

/// Passes the request on (with its body restored if it was read) or answers it.
async fn check(guard: &Guard, request: Request<Body>) -> Result<Request<Body>, Response> {
    let Some(session) = request.extensions().get::<sessile::Session>().cloned() else {
        tracing::error!("CsrfLayer found no session: install it inside SessionLayer");
        return Err(MissingSessionLayer.into_response());
    };
    let verify = |token: &str| {
        let session = session.clone();
        let token = token.to_owned();
        async move {
            match guard.csrf().verify(&session, &token).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(rejected(StatusCode::FORBIDDEN, REJECTED_BODY)),
                Err(error) => Err(Error(error).into_response()),
            }
        }
    };
    if let Some(value) = request.headers().get(guard.header()) {
        // A token in the header decides alone: a bad one is not retried from the body.
        let token = value.to_str().unwrap_or_default();
        verify(token).await?;
        return Ok(request);
    }
    let content_type = request.headers().get(header::CONTENT_TYPE);
    if !Guard::is_form(content_type.map(HeaderValue::as_bytes)) {
        return Err(rejected(StatusCode::FORBIDDEN, REJECTED_BODY));
    }
    let (parts, body) = request.into_parts();
    let bytes = read_limited(&parts, body, guard.body_limit()).await?;
    verify(&guard.form_token(&bytes)).await?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

async fn read_limited(parts: &Parts, body: Body, limit: usize) -> Result<Bytes, Response> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    // A declared length over the limit is refused before reading a byte of it.
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(rejected(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE_BODY));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => {
            Err(rejected(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE_BODY))
        }
        Err(error) => {
            tracing::debug!(%error, "CSRF check could not read the form body");
            Err(rejected(StatusCode::BAD_REQUEST, UNREADABLE_BODY))
        }
    }
}

fn rejected(status: StatusCode, body: &'static str) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The configuration [`CsrfLayer`] leaves in the request extensions for [`CsrfToken`].
#[derive(Clone, Debug)]
struct CsrfConfig(Csrf);

/// A fresh CSRF token for the request's session, to embed in the page (a hidden `_csrf` field,
/// a meta tag for scripts that send the header). Different on every request.
///
/// Uses the [`CsrfLayer`]'s configuration when the request passed through one, the default
/// masked scheme otherwise. Requires [`SessionLayer`](crate::SessionLayer) (500 without it);
/// a store failure is answered like [`Error`] (503 or 500).
///
/// ```
/// use sessile_axum::csrf::CsrfToken;
///
/// async fn page(CsrfToken(token): CsrfToken) -> String {
///     format!(r#"<meta name="csrf-token" content="{token}">"#)
/// }
/// # let _ = page;
/// ```
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let session = parts
            .extensions
            .get::<sessile::Session>()
            .cloned()
            .ok_or_else(|| MissingSessionLayer.into_response())?;
        let csrf = parts
            .extensions
            .get::<CsrfConfig>()
            .map(|CsrfConfig(csrf)| csrf.clone())
            .unwrap_or_default();
        csrf.token(&session)
            .await
            .map(CsrfToken)
            .map_err(|error| Error(error).into_response())
    }
}
