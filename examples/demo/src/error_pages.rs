//! Error answers a person can read: a page with a heading, what happened in plain words, and a
//! link back, instead of a browser's own error screen for an empty body.
//!
//! [`dress_errors`] gives every 4xx and 5xx answer outside `/api/` that is not already HTML such a
//! page, keeping its status and headers (a `Set-Cookie`, `Cache-Control`). Answers under `/api/`
//! keep their short plain-text bodies, which scripts and curl users read.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::cross_origin::CrossOriginRefusal;
use crate::pages;

/// Middleware: replaces the body of error answers outside `/api/` with an HTML page.
pub async fn dress_errors(request: Request, next: Next) -> Response {
    let for_people = !request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    if !for_people || !(status.is_client_error() || status.is_server_error()) || is_html(&response)
    {
        return response;
    }
    let cross_origin = response.extensions().get::<CrossOriginRefusal>().is_some();
    let (heading, text) = explain(status, cross_origin);
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(pages::message(heading, text)))
}

fn is_html(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"))
}

/// A heading and a sentence for each error status the demo can answer.
fn explain(status: StatusCode, cross_origin: bool) -> (&'static str, &'static str) {
    match status {
        StatusCode::FORBIDDEN if cross_origin => (
            "Request refused",
            "This request was sent by another website, so it was not carried out. \
             Nothing in your session changed.",
        ),
        StatusCode::FORBIDDEN => (
            "This form has expired",
            "The page this form came from was opened before you signed in or out, so the form \
             no longer works. Nothing was changed: go back to the demo and try again.",
        ),
        StatusCode::NOT_FOUND => ("Page not found", "There is nothing at this address."),
        StatusCode::METHOD_NOT_ALLOWED => (
            "This page can't be opened that way",
            "This address is only used by the demo's buttons: it cannot be opened from a link, \
             a bookmark or the address bar.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "That form was too large",
            "The form sent more than the demo accepts. Nothing was changed.",
        ),
        StatusCode::CONFLICT => (
            "Your change was not saved",
            "Your session ended while the change was being saved, for example because you \
             signed out in another tab.",
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            "Try again in a moment",
            "The demo cannot reach the place where it keeps sessions right now.",
        ),
        status if status.is_client_error() => (
            "That request could not be read",
            "The form did not arrive as the demo expected. Nothing was changed.",
        ),
        _ => (
            "Something went wrong",
            "The demo could not finish that request. Try again; if it keeps happening, the \
             server's log says why.",
        ),
    }
}

/// The router's fallback: 404 with a page.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(pages::message(
            "Page not found",
            "There is nothing at this address.",
        )),
    )
        .into_response()
}

/// The answer to a known path with the wrong method: 405 with a page (the `Allow` header is
/// added by the router).
pub async fn method_not_allowed() -> Response {
    let (heading, text) = explain(StatusCode::METHOD_NOT_ALLOWED, false);
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Html(pages::message(heading, text)),
    )
        .into_response()
}

/// 400 for a revoke form whose key is not a session key.
pub(crate) fn not_a_session() -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(pages::message(
            "That is not one of your sessions",
            "The link or form named no session the demo knows. Nothing was changed.",
        )),
    )
        .into_response()
}
