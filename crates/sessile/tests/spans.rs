//! The `tracing` spans of commits and store calls, in a test binary of its own: which spans a
//! subscriber sees depends on process-wide callsite state that other tests' subscribers,
//! installed on other threads at the same moment, would race with.

use std::sync::{Arc, Mutex};

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use sessile::{Config, Keys, MemoryStore, SessionId, SessionManager, SignedIds};

/// Everything a subscriber writes, kept in memory.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn cookie_request(cookie: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
    headers
}

/// One `sessile.commit` span per committing request and one `sessile.store` span per store
/// call, each with the store, the operation and the outcome; never the id or its tag.
#[test]
fn commits_and_store_calls_have_spans_without_ids() {
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .without_time()
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .finish();
    let manager = SessionManager::new(
        MemoryStore::new(),
        SignedIds::new(Keys::generate()),
        Config::default(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A session created before the subscriber looks.
    let cookie = runtime.block_on(async {
        let session = manager.start(&HeaderMap::new(), None);
        session.insert("name", "ada").unwrap();
        let mut headers = HeaderMap::new();
        session.finish().await.unwrap().apply_to(&mut headers);
        let set_cookie = headers[SET_COOKIE].to_str().unwrap();
        set_cookie.split(';').next().unwrap().to_owned()
    });
    let (_, value) = cookie.split_once('=').unwrap();
    let id = value.split('.').next().unwrap().to_owned();
    let tag = SessionId::decode(&id).unwrap().log_tag();

    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let session = manager.start(&cookie_request(&cookie), None);
            session.insert("theme", "dark").unwrap();
            session.finish().await.unwrap();
            let session = manager.start(&cookie_request(&cookie), None);
            assert_eq!(session.increment("visits", 1).await.unwrap(), 1);
            session.finish().await.unwrap();
        })
    });

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let closes: Vec<&str> = text
        .lines()
        .filter(|line| line.trim_end().ends_with(": close"))
        .collect();
    let store_spans: Vec<&str> = closes
        .iter()
        .copied()
        .filter(|line| line.contains("sessile.store{"))
        .collect();
    assert_eq!(store_spans.len(), 2, "one span per store call: {text}");
    assert!(
        store_spans[0].contains(r#"store="MemoryStore" operation="update" outcome="ok""#),
        "{}",
        store_spans[0]
    );
    assert!(
        store_spans[1].contains(r#"operation="increment" outcome="ok""#),
        "{}",
        store_spans[1]
    );
    let commits: Vec<&str> = closes
        .iter()
        .copied()
        .filter(|line| line.contains("sessile.commit{") && !line.contains("sessile.store{"))
        .collect();
    assert_eq!(
        commits.len(),
        1,
        "the increment-only request commits nothing: {text}"
    );
    assert!(
        commits[0].contains(r#"store="MemoryStore" outcome="saved""#),
        "{}",
        commits[0]
    );
    assert!(
        !text.contains(&id) && !text.contains(&tag),
        "no id or tag in spans: {text}"
    );
}
