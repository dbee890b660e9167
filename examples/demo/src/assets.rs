//! The stylesheet and the icon, compiled into the binary: the demo has no build step for its
//! front end and no files to install beside it.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The pages' stylesheet (`GET /style.css`).
pub const STYLESHEET: &str = include_str!("style.css");

/// The icon (`GET /favicon.svg`, and `GET /favicon.ico` for browsers that ask for it by that
/// name): a key in the page's accent color.
pub const FAVICON_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">
<rect width="64" height="64" rx="14" fill="#2f5d50"/>
<circle cx="24" cy="32" r="11" fill="none" stroke="#f4efe6" stroke-width="6"/>
<path d="M34 32h20M46 32v9M53 32v6" fill="none" stroke="#f4efe6" stroke-width="6" stroke-linecap="round"/>
</svg>
"##;

// An hour: long enough that pages do not fetch them again, short enough that a new demo
// version shows up the same day.
const CACHE_FOR_AN_HOUR: &str = "public, max-age=3600";

/// `GET /style.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE_FOR_AN_HOUR),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// `GET /favicon.svg` and `GET /favicon.ico`.
pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, CACHE_FOR_AN_HOUR),
        ],
        FAVICON_SVG,
    )
        .into_response()
}
