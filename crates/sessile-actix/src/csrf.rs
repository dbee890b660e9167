//! CSRF protection as an actix-web middleware: [`CsrfMiddleware`] rejects unsafe requests
//! without a valid token, and the [`CsrfToken`] extractor gives pages the token to embed.
//!
//! The rules are the core's [`Guard`], the same as `sessile_axum::CsrfLayer`'s: a request whose
//! method is not GET, HEAD, OPTIONS or TRACE must carry a token, in the `x-csrf-token` header or,
//! for an `application/x-www-form-urlencoded` body, in the `_csrf` field; otherwise it is
//! answered 403 [`REJECTED_BODY`]. To read the field the middleware buffers the form body, up to
//! the guard's body limit (413 [`TOO_LARGE_BODY`] beyond), and hands it on unchanged, so the
//! handler still extracts the form.
//!
//! **Order:** the middleware needs the request's session, so it must run *inside*
//! [`SessionMiddleware`]: with actix's `wrap`, the middleware added last runs first, so wrap
//! [`CsrfMiddleware`] before [`SessionMiddleware`]. Without a session it answers unsafe requests
//! with 500 [`MISSING_MIDDLEWARE_BODY`].
//!
//! [`SessionMiddleware`]: crate::SessionMiddleware
//! [`MISSING_MIDDLEWARE_BODY`]: crate::MISSING_MIDDLEWARE_BODY
//!
//! ```
//! use actix_web::{web, App};
//! use sessile::csrf::Guard;
//! use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
//! use sessile_actix::csrf::{CsrfMiddleware, CsrfToken};
//! use sessile_actix::SessionMiddleware;
//!
//! async fn page(CsrfToken(token): CsrfToken) -> String {
//!     format!(r#"<form method="post"><input type="hidden" name="_csrf" value="{token}"></form>"#)
//! }
//!
//! async fn submit(form: web::Form<Vec<(String, String)>>) -> String {
//!     // Reached only with a valid token; the form is intact.
//!     format!("{} fields", form.len())
//! }
//!
//! let ids = SignedIds::new(Keys::generate());
//! let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
//! let app = App::new()
//!     .wrap(CsrfMiddleware::new(Guard::new().exempt_prefix("/webhooks/"))) // inner: checks tokens
//!     .wrap(SessionMiddleware::new(manager)) // outer: provides the session
//!     .route("/", web::get().to(page))
//!     .route("/", web::post().to(submit));
//! # let _ = app;
//! ```

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt;
use sessile::csrf::{Csrf, Guard};

use crate::{plain, Error, MissingSessionMiddleware};

/// Body of the 403 answered when the token is missing or invalid.
pub const REJECTED_BODY: &str = "invalid or missing CSRF token";
/// Body of the 413 answered when a form body exceeds the limit.
pub const TOO_LARGE_BODY: &str = "form body too large";
/// Body of the 400 answered when the form body could not be read.
pub const UNREADABLE_BODY: &str = "form body could not be read";

/// Rejects unsafe requests that carry no valid CSRF token, by the rules of a [`Guard`]; see the
/// [module docs](self).
#[derive(Clone, Default)]
pub struct CsrfMiddleware {
    guard: Arc<Guard>,
}

impl CsrfMiddleware {
    /// A middleware applying `guard` ([`Guard::new`] for the defaults). [`CsrfToken`] issues
    /// tokens with the guard's scheme.
    pub fn new(guard: Guard) -> Self {
        Self {
            guard: Arc::new(guard),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for CsrfMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = CsrfService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CsrfService {
            service: Rc::new(service),
            guard: self.guard.clone(),
        }))
    }
}

/// The service [`CsrfMiddleware`] wraps around the app.
pub struct CsrfService<S> {
    service: Rc<S>,
    guard: Arc<Guard>,
}

impl<S, B> Service<ServiceRequest> for CsrfService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, mut request: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        let guard = self.guard.clone();
        request
            .extensions_mut()
            .insert(CsrfConfig(guard.csrf().clone()));
        Box::pin(async move {
            if guard.needs_token(request.method().as_str(), request.path()) {
                if let Err(rejection) = check(&guard, &mut request).await {
                    return Ok(request.into_response(rejection).map_into_right_body());
                }
            }
            Ok(service.call(request).await?.map_into_left_body())
        })
    }
}

/// Lets the request on (with its form body put back if it was read) or gives the answer.
async fn check(guard: &Guard, request: &mut ServiceRequest) -> Result<(), HttpResponse> {
    let Some(session) = request.extensions().get::<sessile::Session>().cloned() else {
        tracing::error!("CsrfMiddleware found no session: wrap it inside SessionMiddleware");
        return Err(MissingSessionMiddleware.error_response());
    };
    let verify = |token: String| async move {
        match guard.csrf().verify(&session, &token).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(plain(StatusCode::FORBIDDEN, REJECTED_BODY)),
            Err(error) => Err(Error(error).error_response()),
        }
    };
    if let Some(value) = request.headers().get(guard.header().as_str()) {
        // A token in the header decides alone: a bad one is not retried from the body.
        return verify(value.to_str().unwrap_or_default().to_owned()).await;
    }
    let content_type = request.headers().get(header::CONTENT_TYPE);
    if !Guard::is_form(content_type.map(|value| value.as_bytes())) {
        return Err(plain(StatusCode::FORBIDDEN, REJECTED_BODY));
    }
    let body = read_limited(request, guard.body_limit()).await?;
    let token = guard.form_token(&body);
    request.set_payload(Payload::from(body));
    verify(token).await
}

async fn read_limited(request: &mut ServiceRequest, limit: usize) -> Result<Bytes, HttpResponse> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    // A declared length over the limit is refused before reading a byte of it.
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(plain(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE_BODY));
    }
    let mut payload = request.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            tracing::debug!(%error, "CSRF check could not read the form body");
            plain(StatusCode::BAD_REQUEST, UNREADABLE_BODY)
        })?;
        if body.len() + chunk.len() > limit {
            return Err(plain(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE_BODY));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The scheme [`CsrfMiddleware`] leaves in the request extensions for [`CsrfToken`].
#[derive(Clone, Debug)]
struct CsrfConfig(Csrf);

/// A fresh CSRF token for the request's session, to embed in the page (a hidden `_csrf` field,
/// a meta tag for scripts that send the header). Different on every request.
///
/// Uses the [`CsrfMiddleware`]'s scheme when the request passed through one, the default masked
/// scheme otherwise. Requires [`SessionMiddleware`](crate::SessionMiddleware) (500 without
/// it); a store failure is answered like [`Error`] (503 or 500).
///
/// ```
/// use sessile_actix::csrf::CsrfToken;
///
/// async fn page(CsrfToken(token): CsrfToken) -> String {
///     format!(r#"<meta name="csrf-token" content="{token}">"#)
/// }
/// # let _ = page;
/// ```
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

impl FromRequest for CsrfToken {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let session = request.extensions().get::<sessile::Session>().cloned();
        let csrf = request
            .extensions()
            .get::<CsrfConfig>()
            .map(|CsrfConfig(csrf)| csrf.clone())
            .unwrap_or_default();
        Box::pin(async move {
            let session = session.ok_or(MissingSessionMiddleware)?;
            Ok(CsrfToken(csrf.token(&session).await.map_err(Error)?))
        })
    }
}
