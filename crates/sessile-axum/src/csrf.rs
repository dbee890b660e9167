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
use http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sessile::csrf::Csrf;
use tower_layer::Layer;
use tower_service::Service;

use crate::{Error, MissingSessionLayer};

/// The default request header that carries the token.
pub const DEFAULT_HEADER: &str = "x-csrf-token";
/// The default form field that carries the token (the name koa-csrf and csurf read too).
pub const DEFAULT_FORM_FIELD: &str = "_csrf";
/// The default limit, in bytes, on a form body the layer buffers to find the token.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// Body of the 403 answered when the token is missing or invalid.
pub const REJECTED_BODY: &str = "invalid or missing CSRF token";
/// Body of the 413 answered when a form body exceeds the limit.
pub const TOO_LARGE_BODY: &str = "form body too large";
/// Body of the 400 answered when the form body could not be read.
pub const UNREADABLE_BODY: &str = "form body could not be read";

/// Rejects unsafe requests that carry no valid CSRF token; see the [module docs](self).
///
/// ```
/// use sessile::csrf::Csrf;
/// use sessile_axum::csrf::CsrfLayer;
///
/// // Share tokens with a koa-csrf app: its scheme, its header, its session key.
/// let layer = CsrfLayer::new()
///     .with_csrf(Csrf::node_compatible())
///     .with_header(http::HeaderName::from_static("csrf-token"))
///     .exempt_prefix("/webhooks/");
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct CsrfLayer {
    settings: Arc<Settings>,
}

#[derive(Clone)]
struct Settings {
    csrf: Csrf,
    header: HeaderName,
    form_field: String,
    body_limit: usize,
    exempt_paths: Vec<String>,
    exempt_prefixes: Vec<String>,
}

impl Default for CsrfLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CsrfLayer {
    /// The masked scheme ([`Csrf::default`]), header [`DEFAULT_HEADER`], form field
    /// [`DEFAULT_FORM_FIELD`], body limit [`DEFAULT_BODY_LIMIT`], no exempt paths.
    pub fn new() -> Self {
        Self {
            settings: Arc::new(Settings {
                csrf: Csrf::default(),
                header: HeaderName::from_static(DEFAULT_HEADER),
                form_field: DEFAULT_FORM_FIELD.to_owned(),
                body_limit: DEFAULT_BODY_LIMIT,
                exempt_paths: Vec::new(),
                exempt_prefixes: Vec::new(),
            }),
        }
    }

    fn edit(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(Arc::make_mut(&mut self.settings));
        self
    }

    /// Uses another scheme or session key, e.g. [`Csrf::node_compatible`]. [`CsrfToken`] issues
    /// tokens with the same configuration.
    pub fn with_csrf(self, csrf: Csrf) -> Self {
        self.edit(|settings| settings.csrf = csrf)
    }

    /// Reads the token from another header.
    pub fn with_header(self, header: HeaderName) -> Self {
        self.edit(|settings| settings.header = header)
    }

    /// Reads the token from another form field.
    pub fn with_form_field(self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.edit(|settings| settings.form_field = field)
    }

    /// Buffers form bodies up to `bytes` (larger ones get 413).
    pub fn with_body_limit(self, bytes: usize) -> Self {
        self.edit(|settings| settings.body_limit = bytes)
    }

    /// Lets unsafe requests to exactly `path` through without a token (e.g. a webhook that
    /// authenticates itself).
    pub fn exempt_path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.edit(|settings| settings.exempt_paths.push(path))
    }

    /// Lets unsafe requests to every path that starts with `prefix` through without a token.
    pub fn exempt_prefix(self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.edit(|settings| settings.exempt_prefixes.push(prefix))
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// The service [`CsrfLayer`] wraps around the app.
#[derive(Clone)]
pub struct CsrfService<S> {
    inner: S,
    settings: Arc<Settings>,
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
        let settings = self.settings.clone();
        request
            .extensions_mut()
            .insert(CsrfConfig(settings.csrf.clone()));
        Box::pin(async move {
            if is_safe(request.method()) || settings.is_exempt(request.uri().path()) {
                return Ok(inner.call(request).await?.into_response());
            }
            match check(&settings, request).await {
                Ok(request) => Ok(inner.call(request).await?.into_response()),
                Err(rejection) => Ok(rejection),
            }
        })
    }
}

impl Settings {
    fn is_exempt(&self, path: &str) -> bool {
        self.exempt_paths.iter().any(|exempt| exempt == path)
            || self
                .exempt_prefixes
                .iter()
                .any(|prefix| path.starts_with(prefix.as_str()))
    }
}

/// Methods that must not change state (RFC 9110 §9.2.1); every other method needs a token.
fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Passes the request on (with its body restored if it was read) or answers it.
async fn check(settings: &Settings, request: Request<Body>) -> Result<Request<Body>, Response> {
    let Some(session) = request.extensions().get::<sessile::Session>().cloned() else {
        tracing::error!("CsrfLayer found no session: install it inside SessionLayer");
        return Err(MissingSessionLayer.into_response());
    };
    let verify = |token: &str| {
        let session = session.clone();
        let token = token.to_owned();
        async move {
            match settings.csrf.verify(&session, &token).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(rejected(StatusCode::FORBIDDEN, REJECTED_BODY)),
                Err(error) => Err(Error(error).into_response()),
            }
        }
    };
    if let Some(value) = request.headers().get(&settings.header) {
        // A token in the header decides alone: a bad one is not retried from the body.
        let token = value.to_str().unwrap_or_default();
        verify(token).await?;
        return Ok(request);
    }
    if !is_form(&request) {
        return Err(rejected(StatusCode::FORBIDDEN, REJECTED_BODY));
    }
    let (parts, body) = request.into_parts();
    let bytes = read_limited(&parts, body, settings.body_limit).await?;
    let token = form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == settings.form_field.as_str())
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    verify(&token).await?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn is_form(request: &Request<Body>) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
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
