//! The options every SQL store shares, under the same names and types on every dialect (see
//! `ARCHITECTURE.md`, "One options vocabulary"): the builder methods are written once, in
//! [`shared_options!`], and each dialect's options type holds a [`SharedOptions`].

use std::time::Duration;

/// The settings every SQL store's options builder has.
#[derive(Clone, Debug)]
pub(crate) struct SharedOptions {
    /// The most connections the store uses (at least 1).
    pub(crate) max_connections: u32,
    /// How long an operation waits for a connection (connecting included).
    pub(crate) acquire_timeout: Duration,
    /// How long one statement may run or wait; `None` keeps the server's setting.
    pub(crate) statement_timeout: Option<Duration>,
    /// The table's name, unquoted; validated when the store is built.
    pub(crate) table: String,
    /// Whether building the store creates or upgrades its table.
    pub(crate) migrate_on_connect: bool,
    /// The CA certificates (PEM) the server's TLS certificate is verified against, besides the
    /// Mozilla roots built in; server databases only.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub(crate) tls_ca_certificates: Option<Vec<u8>>,
}

/// Opens one connection and closes it again, before the pool is built: a pool retries a failing
/// connect until its acquire timeout and then reports a bare `PoolTimedOut`, so a wrong port
/// took five seconds and lost "connection refused". This answers at once with the driver's own
/// error (refused, unknown host, bad password, TLS), and with a timeout that says what waited.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn try_one_connection<O>(
    options: &O,
    timeout: Duration,
) -> Result<(), crate::Error>
where
    O: sqlx::ConnectOptions,
    O::Connection: Sized,
{
    use sqlx::Connection as _;
    match tokio::time::timeout(timeout, options.connect()).await {
        Ok(Ok(connection)) => {
            // Closing politely is a courtesy to the server; a failure here says nothing about
            // the pool's connections.
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(error)) => Err(crate::Error::Connect(error)),
        Err(_) => Err(crate::Error::Connect(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the database did not answer within the acquire timeout ({timeout:?})"),
        )))),
    }
}

impl SharedOptions {
    /// Ten connections and five seconds both to get one and for one statement: long enough to
    /// ride out a burst or a busy database, short enough that an unreachable or wedged one
    /// turns into 503s rather than hung requests.
    pub(crate) fn new(table: &str, migrate_on_connect: bool) -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(5)),
            table: table.to_owned(),
            migrate_on_connect,
            tls_ca_certificates: None,
        }
    }
}

/// The builder methods of [`SharedOptions`], for an options type with a field `shared`;
/// `shared_options!(statement_timeout)` adds the statement timeout of the server databases. The
/// type's own documentation says what each setting means on its database (how the statement
/// timeout is enforced, the table's default and length limit).
macro_rules! shared_options {
    (statement_timeout) => {
        $crate::options::shared_options!();

        /// How long one statement may run, or wait for a lock, before the database cancels it
        /// and the operation fails with
        /// [`StoreError::Unavailable`](sessile::StoreError::Unavailable). Set on every
        /// connection the store opens (default 5 s).
        pub fn statement_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.shared.statement_timeout = Some(timeout);
            self
        }

        /// Leaves the database's own statement timeout in place instead of setting one.
        pub fn no_statement_timeout(mut self) -> Self {
            self.shared.statement_timeout = None;
            self
        }

        /// The CA certificates to verify the server's TLS certificate against (PEM text: one
        /// or more `-----BEGIN CERTIFICATE-----` blocks, such as a cloud provider's bundle read
        /// from a file or a secret), besides the Mozilla roots built in. The URL's
        /// `sslrootcert=` / `ssl-ca=` name a file to the same effect.
        ///
        /// With a CA the connection verifies the server: a URL mode that would not (PostgreSQL's
        /// `prefer`, the default, `allow` and `require`; MySQL's `PREFERRED`, the default, and
        /// `REQUIRED`) becomes `verify-full` / `VERIFY_IDENTITY`, which also checks the host
        /// name; `verify-ca` / `VERIFY_CA` stay. A URL that turns TLS off, or PEM text without
        /// a certificate, is [`Error::TlsCa`](crate::Error::TlsCa) at connect.
        pub fn tls_ca_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
            self.shared.tls_ca_certificates = Some(pem.into());
            self
        }
    };
    () => {
        /// The most connections the store opens (at least 1).
        pub fn max_connections(mut self, max_connections: u32) -> Self {
            self.shared.max_connections = max_connections.max(1);
            self
        }

        /// How long an operation waits for a connection (including connecting to a server
        /// that is down or restarting) before failing with
        /// [`StoreError::Unavailable`](sessile::StoreError::Unavailable).
        pub fn acquire_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.shared.acquire_timeout = timeout;
            self
        }

        /// The sessions table: a plain identifier (ASCII letters, digits and underscores, not
        /// starting with a digit), checked when the store is built:
        /// [`Error::InvalidName`](crate::Error::InvalidName) otherwise.
        pub fn table(mut self, table: impl Into<String>) -> Self {
            self.shared.table = table.into();
            self
        }

        /// Whether building the store also creates or upgrades its table. Turn it off when
        /// migrations run elsewhere (a deploy step, your own migration tool with
        /// `migration_sql`).
        pub fn migrate_on_connect(mut self, migrate: bool) -> Self {
            self.shared.migrate_on_connect = migrate;
            self
        }
    };
}

pub(crate) use shared_options;
