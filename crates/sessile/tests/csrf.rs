//! CSRF tokens: the masked scheme's properties, malformed input, and interop with the real npm
//! `csrf` package (fixed vectors in tests/node-csrf/vectors.json and live `node` runs).

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use serde::Deserialize;
use sessile::csrf::{self, node, Csrf, NODE_SECRET_KEY, SECRET_KEY};
use sessile::{Config, Keys, MemoryStore, SealedCookies, Session, SessionManager, SignedIds};

fn manager() -> SessionManager {
    SessionManager::new(
        MemoryStore::new(),
        SignedIds::new(Keys::generate()),
        Config::default(),
    )
}

fn fresh_session(manager: &SessionManager) -> Session {
    manager.start(&http::HeaderMap::new(), None)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A session committed to the store, reopened as a later request would see it.
async fn reopened(manager: &SessionManager, session: Session) -> Session {
    let mut response = http::HeaderMap::new();
    session.finish().await.unwrap().apply_to(&mut response);
    let set_cookie = response
        .get(http::header::SET_COOKIE)
        .expect("the session was written, so the response sets its cookie")
        .to_str()
        .unwrap();
    let pair = set_cookie.split(';').next().unwrap();
    let mut request = http::HeaderMap::new();
    request.insert(http::header::COOKIE, pair.parse().unwrap());
    manager.start(&request, None)
}

#[tokio::test]
async fn tokens_differ_on_every_call_and_all_verify() {
    let manager = manager();
    let session = fresh_session(&manager);
    let tokens: Vec<String> = {
        let mut tokens = Vec::new();
        for _ in 0..5 {
            tokens.push(csrf::token(&session).await.unwrap());
        }
        tokens
    };
    for (index, token) in tokens.iter().enumerate() {
        assert_eq!(token.len(), 86, "64 bytes in base64url without padding");
        assert!(tokens[index + 1..].iter().all(|other| other != token));
        assert!(csrf::verify(&session, token).await.unwrap());
    }
}

#[tokio::test]
async fn the_secret_is_created_lazily_under_the_documented_key_and_persists() {
    let manager = manager();
    let session = fresh_session(&manager);
    assert!(!csrf::verify(&session, "anything").await.unwrap());
    assert!(
        session.data().await.unwrap().is_empty(),
        "verify never creates a secret"
    );

    let token = csrf::token(&session).await.unwrap();
    let secret: String = session.get(SECRET_KEY).await.unwrap().unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(&secret).unwrap().len(), 32);

    let later = reopened(&manager, session).await;
    assert!(csrf::verify(&later, &token).await.unwrap());
    let next = csrf::token(&later).await.unwrap();
    assert_eq!(
        later.get::<String>(SECRET_KEY).await.unwrap().unwrap(),
        secret,
        "an existing secret is reused"
    );
    assert!(csrf::verify(&later, &next).await.unwrap());
}

#[tokio::test]
async fn tokens_work_on_both_backends_and_a_sign_in_renews_the_secret() {
    let server_side = manager();
    let client_side =
        SessionManager::client_side(SealedCookies::new(Keys::generate()), Config::default());
    for manager in [server_side, client_side] {
        let session = fresh_session(&manager);
        let token = csrf::token(&session).await.unwrap();
        let later = reopened(&manager, session).await;
        assert!(csrf::verify(&later, &token).await.unwrap());
        // Signing in rotates the id and drops the secret: the pre-login token stops working.
        later.set_user(Some("ada"));
        let signed_in = reopened(&manager, later).await;
        assert!(!csrf::verify(&signed_in, &token).await.unwrap());
    }
}

#[tokio::test]
async fn a_session_that_never_asks_writes_nothing() {
    let manager = manager();
    let session = fresh_session(&manager);
    let headers = session.finish().await.unwrap();
    assert!(headers.is_empty());
}

#[tokio::test]
async fn a_token_from_another_session_never_verifies() {
    let manager = manager();
    let alice = fresh_session(&manager);
    let mallory = fresh_session(&manager);
    let alice_token = csrf::token(&alice).await.unwrap();
    let mallory_token = csrf::token(&mallory).await.unwrap();
    assert!(!csrf::verify(&mallory, &alice_token).await.unwrap());
    assert!(!csrf::verify(&alice, &mallory_token).await.unwrap());
}

#[tokio::test]
async fn renew_invalidates_earlier_tokens() {
    let manager = manager();
    let session = fresh_session(&manager);
    let csrf = Csrf::default();
    let before = csrf.token(&session).await.unwrap();
    csrf.renew(&session).unwrap();
    assert!(!csrf.verify(&session, &before).await.unwrap());
    let after = csrf.token(&session).await.unwrap();
    assert!(csrf.verify(&session, &after).await.unwrap());
}

#[tokio::test]
async fn malformed_tokens_are_false_not_errors() {
    let manager = manager();
    let session = fresh_session(&manager);
    let token = csrf::token(&session).await.unwrap();
    let mut flipped = URL_SAFE_NO_PAD.decode(&token).unwrap();
    flipped[40] ^= 1;
    let candidates = [
        String::new(),
        token[..85].to_owned(),
        token[..43].to_owned(),
        format!("{token}A"),
        format!("{token}{token}"),
        token.replace(|c: char| c.is_ascii_alphanumeric(), "*"),
        URL_SAFE_NO_PAD.encode(flipped),
        URL_SAFE_NO_PAD.encode([0u8; 64]),
        "é".repeat(43),
        "\0".repeat(86),
        "-".repeat(86),
    ];
    for candidate in candidates {
        assert!(
            !csrf::verify(&session, &candidate).await.unwrap(),
            "{candidate:?} must not verify"
        );
    }
    assert!(csrf::verify(&session, &token).await.unwrap());
}

#[tokio::test]
async fn a_stored_value_that_is_not_a_secret_is_replaced_and_never_verifies() {
    let manager = manager();
    for junk in [
        serde_json::json!(42),
        serde_json::json!("short"),
        serde_json::json!({"a": 1}),
        serde_json::json!("!".repeat(43)),
    ] {
        let session = fresh_session(&manager);
        session.insert(SECRET_KEY, &junk).unwrap();
        assert!(!csrf::verify(&session, "x").await.unwrap());
        let token = csrf::token(&session).await.unwrap();
        assert_ne!(
            session.get::<serde_json::Value>(SECRET_KEY).await.unwrap(),
            Some(junk)
        );
        assert!(csrf::verify(&session, &token).await.unwrap());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_input_never_verifies_or_panics(
        text in any::<String>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let runtime = runtime();
        let manager = manager();
        runtime.block_on(async {
            let masked = fresh_session(&manager);
            csrf::token(&masked).await.unwrap();
            let node_csrf = Csrf::node_compatible();
            let node_session = fresh_session(&manager);
            node_csrf.token(&node_session).await.unwrap();
            let encoded = URL_SAFE_NO_PAD.encode(&bytes);
            let lossy = String::from_utf8_lossy(&bytes).into_owned();
            for candidate in [&text, &encoded, &lossy] {
                prop_assert!(!csrf::verify(&masked, candidate).await.unwrap());
                prop_assert!(!node_csrf.verify(&node_session, candidate).await.unwrap());
            }
            Ok(())
        })?;
    }

    #[test]
    fn node_verify_accepts_exactly_its_own_tokens(
        secret in "[A-Za-z0-9_-]{1,40}",
        salt in "[A-Za-z0-9]{1,16}",
        other in "[A-Za-z0-9_-]{1,40}",
    ) {
        let token = node::tokenize(&secret, &salt);
        prop_assert!(node::verify(&secret, &token));
        prop_assert_eq!(node::verify(&other, &token), other == secret);
    }
}

#[tokio::test]
async fn node_compatible_mode_uses_the_node_apps_secret() {
    let manager = manager();
    let session = fresh_session(&manager);
    // As a koa-csrf or koa-atomic-session app left it in the shared session.
    let node_secret = "kT3Lz0J0X4u1a4a9mSdwZt1Q";
    session.insert(NODE_SECRET_KEY, node_secret).unwrap();
    let csrf = Csrf::node_compatible();
    let node_token = node::tokenize(node_secret, "abcdEFGH");
    assert!(csrf.verify(&session, &node_token).await.unwrap());
    let rust_token = csrf.token(&session).await.unwrap();
    assert!(node::verify(node_secret, &rust_token));
    assert_ne!(rust_token, csrf.token(&session).await.unwrap());
    let salt = rust_token.split_once('-').unwrap().0;
    assert_eq!(salt.len(), 8, "the npm package's salt length");
    assert!(salt.bytes().all(|byte| byte.is_ascii_alphanumeric()));
    assert!(
        !Csrf::default().verify(&session, &node_token).await.unwrap(),
        "the masked scheme keeps its own secret"
    );
}

#[tokio::test]
async fn node_compatible_mode_creates_a_secret_shaped_like_the_packages() {
    let manager = manager();
    let session = fresh_session(&manager);
    let csrf = Csrf::node_compatible().with_session_key("csrfSecret");
    let token = csrf.token(&session).await.unwrap();
    let secret: String = session.get("csrfSecret").await.unwrap().unwrap();
    assert_eq!(secret.len(), 24);
    assert_eq!(URL_SAFE_NO_PAD.decode(&secret).unwrap().len(), 18);
    assert!(node::verify(&secret, &token));
    assert!(session
        .get::<String>(NODE_SECRET_KEY)
        .await
        .unwrap()
        .is_none());
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node-csrf")
}

#[derive(Deserialize)]
struct Vectors {
    package: String,
    version: String,
    created: Vec<Created>,
    verified: Vec<Verified>,
}

#[derive(Deserialize)]
struct Created {
    secret: String,
    salt: String,
    token: String,
}

#[derive(Deserialize)]
struct Verified {
    secret: String,
    token: String,
    valid: bool,
}

fn vectors() -> Vectors {
    let text = std::fs::read_to_string(fixture().join("vectors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn tokens_match_the_npm_packages_vectors() {
    let vectors = vectors();
    assert_eq!(vectors.package, "csrf");
    assert!(!vectors.version.is_empty());
    assert!(vectors.created.len() >= 40);
    for vector in &vectors.created {
        assert_eq!(
            node::tokenize(&vector.secret, &vector.salt),
            vector.token,
            "secret {:?}, salt {:?}",
            vector.secret,
            vector.salt
        );
    }
}

#[test]
fn verification_matches_the_npm_packages_vectors() {
    let vectors = vectors();
    assert!(vectors.verified.iter().any(|vector| vector.valid));
    assert!(vectors.verified.iter().any(|vector| !vector.valid));
    for vector in &vectors.verified {
        assert_eq!(
            node::verify(&vector.secret, &vector.token),
            vector.valid,
            "token {:?}",
            vector.token
        );
    }
}

/// Runs tests/node-csrf/live.js with the real npm package; fails (never skips) without it.
fn node_csrf(args: &[&str]) -> String {
    let fixture = fixture();
    assert!(
        fixture.join("node_modules/csrf/package.json").exists(),
        "the npm `csrf` package is not installed: run `npm ci --prefix crates/sessile/tests/node-csrf`"
    );
    let output = Command::new("node")
        .arg(fixture.join("live.js"))
        .args(args)
        .current_dir(&fixture)
        .output()
        .unwrap_or_else(|error| panic!("cannot run `node` (is Node.js installed?): {error}"));
    assert!(
        output.status.success(),
        "node live.js {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn live_node_tokens_verify_in_rust_and_rust_tokens_verify_in_node() {
    let node_secret = node_csrf(&["secret"]);
    assert_eq!(URL_SAFE_NO_PAD.decode(&node_secret).unwrap().len(), 18);
    for _ in 0..3 {
        let from_node = node_csrf(&["create", &node_secret]);
        assert!(node::verify(&node_secret, &from_node), "{from_node}");
        assert!(!node::verify(&node::generate_secret(), &from_node));
    }

    let rust_secret = node::generate_secret();
    let from_rust = node::create_token(&rust_secret);
    assert_eq!(node_csrf(&["verify", &rust_secret, &from_rust]), "true");
    assert_eq!(node_csrf(&["verify", &node_secret, &from_rust]), "false");
    let tampered = format!("{}x", &from_rust[..from_rust.len() - 1]);
    assert_eq!(node_csrf(&["verify", &rust_secret, &tampered]), "false");
}

#[test]
fn live_node_accepts_tokens_from_a_rust_session_in_node_compatible_mode() {
    runtime().block_on(async {
        let manager = manager();
        let session = fresh_session(&manager);
        let csrf = Csrf::node_compatible();
        let token = csrf.token(&session).await.unwrap();
        let secret: String = session.get(NODE_SECRET_KEY).await.unwrap().unwrap();
        assert_eq!(node_csrf(&["verify", &secret, &token]), "true");
        let from_node = node_csrf(&["create", &secret]);
        assert!(csrf.verify(&session, &from_node).await.unwrap());
    });
}
