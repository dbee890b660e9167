//! Refuses unsafe requests that a browser says come from another origin.
//!
//! The CSRF token is what protects every form; this check is a second line that costs no
//! session load. `SameSite=Lax` cookies do not stop a page on the same host and another port
//! (`127.0.0.1:8089` is the same *site* as `127.0.0.1:3000`), and a token leaked once would be
//! replayable from such a page. Browsers say where a request comes from:
//!
//! - `Sec-Fetch-Site`: only `same-origin` (this very origin) and `none` (the user typed or
//!   bookmarked it) pass; `same-site` (another port or subdomain) and `cross-site` are refused.
//! - `Origin`: when present it must be this host (`http://` or `https://` and the `Host`
//!   header); `null` (sandboxed frames, `Referrer-Policy: no-referrer` pages) is refused.
//!
//! A request with neither header (curl, scripts, old browsers) passes here and still needs a
//! valid token from the CSRF layer. Safe methods (GET, HEAD, OPTIONS, TRACE) are not checked.
//!
//! ```
//! use axum::http::{header, HeaderMap, HeaderValue};
//! use sessile_demo::cross_origin::refusal;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3000"));
//! assert_eq!(refusal(&headers), None); // curl: no Origin, no Sec-Fetch-Site
//! headers.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:3000"));
//! headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
//! assert_eq!(refusal(&headers), None);
//! headers.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8089"));
//! assert!(refusal(&headers).is_some());
//! ```

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Body of the 403 answered to a refused request (outside `/api/` the error page replaces it).
pub const REFUSED_BODY: &str = "refused: the request came from another origin";

/// Marks a response as this check's refusal, so the error page can say why.
#[derive(Clone, Copy, Debug)]
pub struct CrossOriginRefusal;

/// Middleware: answers 403 to unsafe requests from another origin, passes the rest on.
pub async fn refuse_cross_origin(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if safe {
        return next.run(request).await;
    }
    match refusal(request.headers()) {
        None => next.run(request).await,
        Some(reason) => {
            tracing::info!(
                method = %request.method(),
                path = request.uri().path(),
                reason,
                "refused a request from another origin"
            );
            let mut response = (
                StatusCode::FORBIDDEN,
                [(header::CACHE_CONTROL, "no-store")],
                REFUSED_BODY,
            )
                .into_response();
            response.extensions_mut().insert(CrossOriginRefusal);
            response
        }
    }
}

/// Why an unsafe request with these headers is refused, or `None` if it may go on to the CSRF
/// check.
pub fn refusal(headers: &HeaderMap) -> Option<&'static str> {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return Some("Sec-Fetch-Site is not same-origin");
        }
    }
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).map(|host| host.as_bytes());
    let origin = origin.as_bytes();
    let own = host.is_some_and(|host| {
        [&b"http://"[..], b"https://"].iter().any(|scheme| {
            origin.len() == scheme.len() + host.len()
                && origin[..scheme.len()].eq_ignore_ascii_case(scheme)
                && origin[scheme.len()..].eq_ignore_ascii_case(host)
        })
    });
    (!own).then_some("Origin is not this host")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn same_origin_and_headerless_requests_pass() {
        let host = ("host", "127.0.0.1:3000");
        for pairs in [
            vec![host],
            vec![host, ("origin", "http://127.0.0.1:3000")],
            vec![host, ("origin", "HTTP://127.0.0.1:3000")],
            vec![host, ("sec-fetch-site", "same-origin")],
            vec![host, ("sec-fetch-site", "none")],
            vec![
                ("host", "demo.example"),
                ("origin", "https://demo.example"),
                ("sec-fetch-site", "same-origin"),
            ],
        ] {
            assert_eq!(refusal(&headers(&pairs)), None, "{pairs:?}");
        }
    }

    #[test]
    fn other_origins_are_refused() {
        let host = ("host", "127.0.0.1:3000");
        for pairs in [
            vec![host, ("sec-fetch-site", "same-site")],
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![host, ("sec-fetch-site", "junk")],
            vec![host, ("origin", "http://127.0.0.1:8089")],
            vec![host, ("origin", "http://localhost:3000")],
            vec![host, ("origin", "null")],
            vec![host, ("origin", "http://127.0.0.1:30000")],
            vec![host, ("origin", "http://127.0.0.1:300")],
            vec![("origin", "http://127.0.0.1:3000")],
            vec![
                host,
                ("origin", "http://127.0.0.1:3000"),
                ("sec-fetch-site", "same-site"),
            ],
        ] {
            assert!(refusal(&headers(&pairs)).is_some(), "{pairs:?}");
        }
    }
}
