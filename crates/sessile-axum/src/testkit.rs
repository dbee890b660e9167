//! Test helpers for apps and stores built on sessile-axum (feature `testkit`): a real server on a
//! loopback port, so tests exercise HTTP, connection handling and concurrency, not only
//! `Service::oneshot`.

use std::net::SocketAddr;

use axum::Router;

/// A router served on `127.0.0.1:<ephemeral port>` with connect info (client addresses reach
/// [`crate::SessionLayer`]), stopped when dropped.
///
/// ```
/// use axum::{routing::get, Router};
/// use sessile_axum::testkit::TestServer;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let server = TestServer::start(Router::new().route("/", get(|| async { "ok" }))).await;
/// assert!(server.url("/").starts_with("http://127.0.0.1:"));
/// # });
/// ```
pub struct TestServer {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Binds an ephemeral loopback port and serves `router` on it in a background task.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound: a test cannot go on without one.
    pub async fn start(router: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral loopback port");
        let address = listener
            .local_addr()
            .expect("a bound socket has an address");
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, service).await {
                tracing::error!(%error, "test server stopped");
            }
        });
        Self { address, task }
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://<address><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
