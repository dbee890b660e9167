//! What a store sends to its database, seen from the test process.
//!
//! [`StatementLog`] reads sqlx's statement log: one `sqlx::query` tracing event per statement
//! sqlx runs, `BEGIN`/`COMMIT` included (sqlx runs them as statements), but not the driver's
//! protocol-level requests such as a pool's connection ping. [`wire::WireTap`] (PostgreSQL
//! and MySQL) sits between the pool and the server and records every request that waits for an
//! answer, pings included: the round trips.

use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Collects the summary (the statement's first words) of every statement sqlx logs. Get it
/// with [`StatementLog::install`]: it is the process-wide subscriber.
#[derive(Clone, Default)]
pub struct StatementLog(Arc<Mutex<Vec<String>>>);

impl StatementLog {
    /// The log, installed as the process-wide tracing subscriber.
    ///
    /// The subscriber is installed once per process; later calls (the next test of the same
    /// binary) get the same log, emptied. Tests that count statements must not run beside
    /// others of the process (the `serial` binary runs one test at a time).
    pub fn install() -> Self {
        static INSTALLED: std::sync::OnceLock<StatementLog> = std::sync::OnceLock::new();
        let log = INSTALLED.get_or_init(|| {
            let log = Self::default();
            tracing::subscriber::set_global_default(log.clone())
                .expect("the statement log is the test binary's only subscriber");
            log
        });
        log.take();
        log.clone()
    }

    /// The statements logged since the last call to a `take` method.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// Like [`StatementLog::take`], once the last statement logged satisfies `is_marker`; the
    /// marker itself is left out. For drivers that log after the caller got its result (SQLite's
    /// worker threads): the caller runs a marker statement after the ones it counts, on the same
    /// connection, and once that is logged every earlier statement is.
    pub async fn take_through_marker(&self, is_marker: impl Fn(&str) -> bool) -> Vec<String> {
        for _ in 0..10_000 {
            {
                let mut logged = self.0.lock().unwrap();
                if logged.last().is_some_and(|last| is_marker(last)) {
                    logged.pop();
                    return std::mem::take(&mut *logged);
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("the marker statement was never logged");
    }
}

struct Summary(Option<String>);

impl Visit for Summary {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "summary" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl Subscriber for StatementLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "sqlx::query"
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut summary = Summary(None);
        event.record(&mut summary);
        if let Some(summary) = summary.0 {
            self.0.lock().unwrap().push(summary);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
pub mod wire {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// The wire protocol a [`WireTap`] reads.
    #[derive(Clone, Copy, Debug)]
    pub enum Protocol {
        /// PostgreSQL's frontend protocol, without TLS (connect with `sslmode=disable`).
        Postgres,
        /// The MySQL/MariaDB client protocol, without TLS or compression.
        MySql,
    }

    /// A TCP proxy on a loopback port in front of a database server, recording every request
    /// the clients send that waits for the server's answer, as a label: for PostgreSQL the
    /// messages up to and including the `Sync` or simple `Query` that asks for `ReadyForQuery`
    /// (`"Bind Execute Sync"`; a lone `"Sync"` is sqlx's ping), for MySQL the command
    /// (`"COM_STMT_EXECUTE"`, `"COM_PING"`). A request is recorded before it is forwarded, so
    /// once its answer has reached the client it is in the record.
    #[derive(Clone)]
    pub struct WireTap {
        port: u16,
        requests: Arc<Mutex<Vec<String>>>,
    }

    impl WireTap {
        /// A proxy to `host:port`, serving until the runtime stops.
        pub async fn start(protocol: Protocol, host: &str, port: u16) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind a loopback port");
            let tap = Self {
                port: listener.local_addr().expect("the bound address").port(),
                requests: Arc::default(),
            };
            let upstream = format!("{host}:{port}");
            let requests = tap.requests.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let (upstream, requests) = (upstream.clone(), requests.clone());
                    tokio::spawn(relay(client, upstream, protocol, requests));
                }
            });
            tap
        }

        /// The loopback port to connect to instead of the server's.
        pub fn port(&self) -> u16 {
            self.port
        }

        /// The requests recorded since the last call.
        pub fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.requests.lock().unwrap())
        }
    }

    /// Relays one client connection, recording its requests; a failed upstream connection
    /// drops the client's, which then fails to connect.
    async fn relay(
        client: TcpStream,
        upstream: String,
        protocol: Protocol,
        requests: Arc<Mutex<Vec<String>>>,
    ) {
        let Ok(server) = TcpStream::connect(&upstream).await else {
            return;
        };
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        });
        let mut parser = Parser {
            protocol,
            pending: Vec::new(),
            started: false,
            messages: Vec::new(),
        };
        let mut chunk = vec![0; 64 * 1024];
        loop {
            let read = match client_read.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            let complete = parser.feed(&chunk[..read]);
            requests.lock().unwrap().extend(complete);
            if server_write.write_all(&chunk[..read]).await.is_err() {
                return;
            }
        }
    }

    /// Splits the client's byte stream into messages and groups them into requests.
    struct Parser {
        protocol: Protocol,
        pending: Vec<u8>,
        /// Whether the untyped PostgreSQL startup message has gone by.
        started: bool,
        /// PostgreSQL messages of the request being assembled.
        messages: Vec<&'static str>,
    }

    impl Parser {
        /// Takes the next bytes; the requests they complete.
        fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
            self.pending.extend_from_slice(bytes);
            let mut complete = Vec::new();
            loop {
                let consumed = match self.protocol {
                    Protocol::Postgres => self.postgres_message(&mut complete),
                    Protocol::MySql => self.mysql_packet(&mut complete),
                };
                match consumed {
                    Some(length) => drop(self.pending.drain(..length)),
                    None => return complete,
                }
            }
        }

        /// The length of the first whole message in `pending`, recording what it completes.
        fn postgres_message(&mut self, complete: &mut Vec<String>) -> Option<usize> {
            if !self.started {
                let length = u32::from_be_bytes(self.pending.get(..4)?.try_into().ok()?);
                let length = usize::try_from(length).ok()?;
                if self.pending.len() < length {
                    return None;
                }
                self.started = true;
                return Some(length);
            }
            let header = self.pending.get(..5)?;
            let length = u32::from_be_bytes(header[1..5].try_into().ok()?);
            let total = 1 + usize::try_from(length).ok()?;
            if self.pending.len() < total {
                return None;
            }
            let name = match header[0] {
                b'P' => "Parse",
                b'B' => "Bind",
                b'D' => "Describe",
                b'E' => "Execute",
                b'C' => "Close",
                b'H' => "Flush",
                b'S' => "Sync",
                b'Q' => "Query",
                b'X' => "Terminate",
                b'p' => "Password",
                _ => "Other",
            };
            self.messages.push(name);
            if matches!(name, "Sync" | "Query") {
                complete.push(std::mem::take(&mut self.messages).join(" "));
            }
            Some(total)
        }

        /// The length of the first whole packet in `pending`, recording the command it
        /// carries, if it is one that waits for an answer.
        fn mysql_packet(&mut self, complete: &mut Vec<String>) -> Option<usize> {
            let header = self.pending.get(..4)?;
            let length =
                usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
            let sequence = header[3];
            let total = 4 + length;
            if self.pending.len() < total {
                return None;
            }
            // A command opens a new exchange, numbered from 0; the handshake's packets are not
            // commands.
            if sequence == 0 && length > 0 {
                let command = match self.pending[4] {
                    0x01 => None, // COM_QUIT: no answer
                    0x03 => Some("COM_QUERY"),
                    0x0e => Some("COM_PING"),
                    0x16 => Some("COM_STMT_PREPARE"),
                    0x17 => Some("COM_STMT_EXECUTE"),
                    0x18 | 0x19 => None, // COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE: no answer
                    0x1a => Some("COM_STMT_RESET"),
                    0x1f => Some("COM_RESET_CONNECTION"),
                    _ => Some("COM_OTHER"),
                };
                complete.extend(command.map(str::to_owned));
            }
            Some(total)
        }
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
pub mod measure {
    use serde_json::json;
    use sessile::{
        ChangeSet, CreateOutcome, IncrementOutcome, SessionId, Store, Timestamp, UpdateOutcome,
    };

    use super::wire::WireTap;
    use super::StatementLog;
    use crate::support::{record_at, touch_at};

    const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    /// The store operations whose cost the tests pin down.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Operation {
        Create,
        Load,
        /// An update setting and removing keys a JSON path can address, with a touch.
        Update,
        /// An increment of an integer in a live session.
        Increment,
        /// An update that only extends the idle deadline.
        Touch,
        Delete,
    }

    /// What one operation sent: the statements sqlx logged, and every request that waited for
    /// the server's answer (see [`WireTap`]).
    #[derive(Debug)]
    pub struct Cost {
        pub operation: Operation,
        pub statements: Vec<String>,
        pub requests: Vec<String>,
    }

    /// Runs every [`Operation`] in two rounds, each on a session of its own; the costs of both,
    /// cold then warm. The cold round, on a fresh pool, is where each statement is first
    /// prepared on the connection. `pool` must be the store's, of one connection, and
    /// `tap` in front of it; `log` and `tap` are emptied first.
    pub async fn measure_operations<DB: sqlx::Database>(
        store: &impl Store,
        pool: &sqlx::Pool<DB>,
        log: &StatementLog,
        tap: &WireTap,
    ) -> [Vec<Cost>; 2] {
        assert_eq!(pool.options().get_max_connections(), 1, "one connection");
        [
            round(store, pool, log, tap).await,
            round(store, pool, log, tap).await,
        ]
    }

    async fn round<DB: sqlx::Database>(
        store: &impl Store,
        pool: &sqlx::Pool<DB>,
        log: &StatementLog,
        tap: &WireTap,
    ) -> Vec<Cost> {
        let key = SessionId::generate().store_key();
        let mut costs = Vec::new();
        let cost = |operation| async move {
            // A connection returned to sqlx's pool is pinged (in a task of its own) before it
            // counts as idle, so wait until every pooled connection is idle: then the
            // operation's last request is recorded. The stores hold their connections outside
            // the pool (none pooled, so this holds at once) and have their answer on return.
            for _ in 0..10_000 {
                if pool.num_idle() == pool.size() as usize {
                    return Cost {
                        operation,
                        statements: log.take(),
                        requests: tap.take(),
                    };
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            panic!("the connection never went back to the pool");
        };
        cost(Operation::Load).await; // Empties the log and the tap.

        assert_eq!(
            store
                .create(&key, &record_at(START, json!({"n": 1, "old": true})))
                .await
                .unwrap(),
            CreateOutcome::Created
        );
        costs.push(cost(Operation::Create).await);

        assert!(store.load(&key, START).await.unwrap().is_some());
        costs.push(cost(Operation::Load).await);

        let mut changes = ChangeSet::default();
        changes.set("cart", json!([1, 2]));
        changes.remove("old");
        changes.touch = Some(touch_at(START));
        assert_eq!(
            store.update(&key, &changes, START).await.unwrap(),
            UpdateOutcome::Applied
        );
        costs.push(cost(Operation::Update).await);

        assert_eq!(
            store
                .increment(&key, "n", 2, touch_at(START), START)
                .await
                .unwrap(),
            IncrementOutcome::Value(3)
        );
        costs.push(cost(Operation::Increment).await);

        let mut touch_only = ChangeSet::default();
        touch_only.touch = Some(touch_at(START));
        assert_eq!(
            store.update(&key, &touch_only, START).await.unwrap(),
            UpdateOutcome::Applied
        );
        costs.push(cost(Operation::Touch).await);

        assert!(store.delete(&key).await.unwrap());
        costs.push(cost(Operation::Delete).await);
        costs
    }
}
