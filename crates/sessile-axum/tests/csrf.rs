//! CsrfLayer over real HTTP on loopback: tokens from pages, header and form-field submissions,
//! cross-session tokens, oversized bodies, exemptions and the Node-compatible scheme.

use axum::routing::{get, post};
use axum::{Form, Json, Router};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use sessile::csrf::{node, Csrf};
use sessile::testkit::adapter_cases::chunked_form_post;
use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
use sessile_axum::csrf::{CsrfLayer, CsrfToken, REJECTED_BODY, TOO_LARGE_BODY};
use sessile_axum::{Error, Session, SessionLayer, MISSING_LAYER_BODY};

const FORM: &str = "application/x-www-form-urlencoded";

/// The app on a loopback port, with a client.
struct TestServer {
    server: sessile_axum::testkit::TestServer,
    client: reqwest::Client,
}

impl TestServer {
    async fn start(router: Router) -> Self {
        Self {
            server: sessile_axum::testkit::TestServer::start(router).await,
            client: reqwest::Client::new(),
        }
    }

    fn request(&self, method: Method, path: &str, cookie: Option<&str>) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.server.url(path));
        match cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        }
    }

    /// GETs the page: its token and the session cookie (`id=...`) it was issued for.
    async fn page(&self) -> (String, String) {
        let response = self
            .request(Method::GET, "/page", None)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response
            .headers()
            .get(SET_COOKIE)
            .expect("asking for a token stores the secret, so the session gets its cookie")
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        (response.text().await.unwrap(), cookie)
    }
}

async fn page(CsrfToken(token): CsrfToken) -> String {
    token
}

async fn echo_form(Form(form): Form<Vec<(String, String)>>) -> Json<Vec<(String, String)>> {
    Json(form)
}

async fn secret(session: Session) -> Result<String, Error> {
    Ok(session.get::<String>("secret").await?.unwrap_or_default())
}

fn app(layer: CsrfLayer) -> Router {
    let ids = SignedIds::new(Keys::generate());
    let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
    Router::new()
        .route("/page", get(page))
        .route("/secret", get(secret))
        .route("/form", post(echo_form))
        .route(
            "/api",
            post(|| async { "done" })
                .put(|| async { "done" })
                .patch(|| async { "done" })
                .delete(|| async { "done" }),
        )
        .route("/hooks/ping", post(|| async { "pong" }))
        .layer(layer)
        .layer(SessionLayer::new(manager))
}

async fn assert_rejected(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.text().await.unwrap(), REJECTED_BODY);
}

#[tokio::test]
async fn unsafe_methods_need_a_token_and_safe_ones_do_not() {
    let server = TestServer::start(app(CsrfLayer::new())).await;
    let (token, cookie) = server.page().await;
    assert_eq!(token.len(), 86);

    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let response = server
            .request(method.clone(), "/api", Some(&cookie))
            .send()
            .await
            .unwrap();
        assert_rejected(response).await;
        let response = server
            .request(method, "/api", Some(&cookie))
            .header("x-csrf-token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "done");
    }
    let response = server
        .request(Method::GET, "/secret", Some(&cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_page_gets_a_different_token_and_each_one_works() {
    let server = TestServer::start(app(CsrfLayer::new())).await;
    let (first, cookie) = server.page().await;
    let second = server
        .request(Method::GET, "/page", Some(&cookie))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_ne!(first, second);
    for token in [first, second] {
        let response = server
            .request(Method::POST, "/api", Some(&cookie))
            .header("x-csrf-token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn a_form_field_token_passes_and_the_handler_still_reads_the_form() {
    let server = TestServer::start(app(CsrfLayer::new())).await;
    let (token, cookie) = server.page().await;
    let body = format!("name=Ada+Lovelace&_csrf={token}&note=%C3%A9t%C3%A9");
    let response = server
        .request(Method::POST, "/form", Some(&cookie))
        .header(CONTENT_TYPE, format!("{FORM}; charset=UTF-8"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let form: Vec<(String, String)> = response.json().await.unwrap();
    assert_eq!(
        form,
        vec![
            ("name".to_owned(), "Ada Lovelace".to_owned()),
            ("_csrf".to_owned(), token),
            ("note".to_owned(), "été".to_owned()),
        ]
    );

    let response = server
        .request(Method::POST, "/form", Some(&cookie))
        .header(CONTENT_TYPE, FORM)
        .body("name=Ada&_csrf=forged")
        .send()
        .await
        .unwrap();
    assert_rejected(response).await;
}

#[tokio::test]
async fn a_token_in_a_json_body_is_not_looked_for() {
    let server = TestServer::start(app(CsrfLayer::new())).await;
    let (token, cookie) = server.page().await;
    let response = server
        .request(Method::POST, "/api", Some(&cookie))
        .header(CONTENT_TYPE, "application/json")
        .body(format!(r#"{{"_csrf":"{token}"}}"#))
        .send()
        .await
        .unwrap();
    assert_rejected(response).await;
}

#[tokio::test]
async fn a_token_from_another_session_is_rejected() {
    let server = TestServer::start(app(CsrfLayer::new())).await;
    let (_, victim_cookie) = server.page().await;
    let (attacker_token, attacker_cookie) = server.page().await;
    assert_ne!(victim_cookie, attacker_cookie);
    let response = server
        .request(Method::POST, "/api", Some(&victim_cookie))
        .header("x-csrf-token", &attacker_token)
        .send()
        .await
        .unwrap();
    assert_rejected(response).await;
    let response = server
        .request(Method::POST, "/form", Some(&victim_cookie))
        .header(CONTENT_TYPE, FORM)
        .body(format!("_csrf={attacker_token}"))
        .send()
        .await
        .unwrap();
    assert_rejected(response).await;
    // Without any session cookie there is no secret, so no token can match.
    let response = server
        .request(Method::POST, "/api", None)
        .header("x-csrf-token", &attacker_token)
        .send()
        .await
        .unwrap();
    assert_rejected(response).await;
}

#[tokio::test]
async fn malformed_header_values_are_rejected() {
    let server = TestServer::start(app(CsrfLayer::new())).await;
    let (token, cookie) = server.page().await;
    let raw_bytes = reqwest::header::HeaderValue::from_bytes(b"\xff\xfe token").unwrap();
    let values = [
        reqwest::header::HeaderValue::from_static(""),
        reqwest::header::HeaderValue::from_str(&token[..40]).unwrap(),
        reqwest::header::HeaderValue::from_str(&format!("{token}{token}")).unwrap(),
        raw_bytes,
    ];
    for value in values {
        let response = server
            .request(Method::POST, "/api", Some(&cookie))
            .header("x-csrf-token", value)
            .send()
            .await
            .unwrap();
        assert_rejected(response).await;
    }
    // A bad header decides alone, even next to a good form field.
    let response = server
        .request(Method::POST, "/form", Some(&cookie))
        .header("x-csrf-token", "forged")
        .header(CONTENT_TYPE, FORM)
        .body(format!("_csrf={token}"))
        .send()
        .await
        .unwrap();
    assert_rejected(response).await;
}

#[tokio::test]
async fn an_oversized_form_body_is_refused_with_413() {
    let server = TestServer::start(app(CsrfLayer::new())).await;
    let (token, cookie) = server.page().await;
    let body = format!("_csrf={token}&filler={}", "a".repeat(64 * 1024));
    let response = server
        .request(Method::POST, "/form", Some(&cookie))
        .header(CONTENT_TYPE, FORM)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.text().await.unwrap(), TOO_LARGE_BODY);
}

#[tokio::test]
async fn a_chunked_form_is_bounded_too() {
    let server = TestServer::start(app(CsrfLayer::new().with_body_limit(1024))).await;
    let (token, cookie) = server.page().await;
    let field = format!("_csrf={token}&a=");
    let filler = vec![b'a'; 600];
    let status = chunked_form_post(
        server.server.address(),
        "/form",
        &cookie,
        &[field.as_bytes(), &filler, &filler],
    )
    .await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    let status = chunked_form_post(
        server.server.address(),
        "/form",
        &cookie,
        &[field.as_bytes(), &filler],
    )
    .await;
    assert_eq!(status, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn exempt_paths_pass_without_a_token() {
    let layer = CsrfLayer::new()
        .exempt_prefix("/hooks/")
        .exempt_path("/form");
    let server = TestServer::start(app(layer)).await;
    let response = server
        .request(Method::POST, "/hooks/ping", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "pong");
    let response = server
        .request(Method::POST, "/form", None)
        .header(CONTENT_TYPE, FORM)
        .body("a=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = server
        .request(Method::POST, "/api", None)
        .send()
        .await
        .unwrap();
    assert_rejected(response).await;
}

#[tokio::test]
async fn custom_names_are_honoured() {
    let layer = CsrfLayer::new()
        .with_header(http::HeaderName::from_static("x-xsrf-token"))
        .with_form_field("authenticity_token");
    let server = TestServer::start(app(layer)).await;
    let (token, cookie) = server.page().await;
    let response = server
        .request(Method::POST, "/api", Some(&cookie))
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_rejected(response).await;
    let response = server
        .request(Method::POST, "/api", Some(&cookie))
        .header("x-xsrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = server
        .request(Method::POST, "/form", Some(&cookie))
        .header(CONTENT_TYPE, FORM)
        .body(format!("authenticity_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_node_compatible_scheme_accepts_tokens_a_node_app_would_issue() {
    let server = TestServer::start(app(CsrfLayer::new().with_csrf(Csrf::node_compatible()))).await;
    let (token, cookie) = server.page().await;
    let secret = server
        .request(Method::GET, "/secret", Some(&cookie))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(secret.len(), 24, "the page stored a csrf-package secret");
    assert!(
        node::verify(&secret, &token),
        "the page's token is a csrf-package token"
    );
    let node_token = node::tokenize(&secret, "NodeSalt");
    let response = server
        .request(Method::POST, "/api", Some(&cookie))
        .header("x-csrf-token", &node_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let forged = node::tokenize(&node::generate_secret(), "NodeSalt");
    let response = server
        .request(Method::POST, "/api", Some(&cookie))
        .header("x-csrf-token", &forged)
        .send()
        .await
        .unwrap();
    assert_rejected(response).await;
}

#[tokio::test]
async fn without_the_session_layer_unsafe_requests_fail_loudly() {
    let router = Router::new()
        .route("/api", post(|| async { "done" }))
        .route("/", get(|| async { "home" }))
        .layer(CsrfLayer::new());
    let server = TestServer::start(router).await;
    let response = server.request(Method::GET, "/", None).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "home");
    let response = server
        .request(Method::POST, "/api", None)
        .header("x-csrf-token", "anything")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.text().await.unwrap(), MISSING_LAYER_BODY);
}
