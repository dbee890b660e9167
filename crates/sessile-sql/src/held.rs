//! Connections the PostgreSQL and MySQL stores hold themselves, so that a store operation is one
//! round trip to the server.
//!
//! sqlx's pool pings a connection on its way back to the pool, every time (sqlx 0.8,
//! `Floating::return_to_pool`), and with `test_before_acquire` also on its way out: a warm
//! operation through the pool is three round trips, the statement between two pings. The stores
//! instead take connections out of their pool ([`sqlx::pool::PoolConnection::detach`], so the
//! pool's connect options, `after_connect` hook and acquire timeout still apply to opening them)
//! and keep them in [`HeldConnections`]: a stack of idle connections and a semaphore of as many
//! permits as the pool's `max_connections`.
//!
//! What keeps this as robust as the pool's pings:
//!
//! - a connection is handed back only after an operation that succeeded or that the server
//!   refused with an ordinary error (a unique violation, a refused value); an I/O error, a lost
//!   connection, a server shutting down, or a caller that gave up mid-statement (a dropped
//!   future: the engine's store timeout) drops it, and the next operation opens a new one;
//! - a connection idle for [`PING_IF_IDLE_FOR`] or longer is pinged before use, as
//!   `test_before_acquire` did: after a server restart, the connections nobody used during the
//!   outage are found dead and replaced instead of failing a request each. Under load,
//!   connections are reused within microseconds and never pinged;
//! - waiting for a permit and opening a connection are bounded by the pool's acquire timeout
//!   ([`sqlx::Error::PoolTimedOut`], which the stores report as unavailable);
//! - the pool's `max_lifetime` and `idle_timeout` apply to held connections too, and once the
//!   pool is closed, the held connections are dropped and operations fail with
//!   [`sqlx::Error::PoolClosed`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::error::DatabaseError;
use sqlx::{Connection, Database, Pool};
use tokio::sync::{Semaphore, SemaphorePermit};

/// A held connection idle this long is pinged before its next use.
pub(crate) const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Up to `max_connections` connections of `pool`, outside it. See the module documentation.
pub(crate) struct HeldConnections<DB: Database> {
    pool: Pool<DB>,
    idle: Mutex<Vec<Idle<DB::Connection>>>,
    permits: Semaphore,
}

struct Idle<C> {
    connection: C,
    opened: Instant,
    since: Instant,
}

impl<DB: Database> std::fmt::Debug for HeldConnections<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldConnections")
            .field(
                "idle",
                &self.idle.lock().map(|idle| idle.len()).unwrap_or(0),
            )
            .field("available_permits", &self.permits.available_permits())
            .finish()
    }
}

impl<DB: Database> HeldConnections<DB> {
    /// Connections opened through `pool`, at most as many as its `max_connections`.
    pub(crate) fn new(pool: Pool<DB>) -> Self {
        let permits = pool.options().get_max_connections().max(1) as usize;
        Self {
            pool,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(permits),
        }
    }

    /// A connection for one operation: the most recently used idle one, pinged first if it has
    /// been idle for [`PING_IF_IDLE_FOR`], or a new one from the pool.
    pub(crate) async fn acquire(&self) -> Result<Lease<'_, DB>, sqlx::Error> {
        if self.pool.is_closed() {
            self.lock_idle().clear();
            return Err(sqlx::Error::PoolClosed);
        }
        // The common case, with no timer: a free permit and a connection used moments ago.
        if let Ok(permit) = self.permits.try_acquire() {
            let recent = {
                let mut idle = self.lock_idle();
                match idle.last() {
                    Some(top) if top.since.elapsed() < PING_IF_IDLE_FOR => idle.pop(),
                    _ => None,
                }
            };
            if let Some(idle) = recent {
                return Ok(Lease::new(self, idle.connection, idle.opened, permit));
            }
            return Box::pin(self.within_acquire_timeout(self.open(permit))).await;
        }
        // The slow paths are boxed: inline, their state (a timer, the pool's acquire) would size
        // every store operation's future, ≈ 2.9 KB each, held by every request in flight.
        Box::pin(self.within_acquire_timeout(async {
            let permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| sqlx::Error::PoolClosed)?;
            self.open(permit).await
        }))
        .await
    }

    async fn within_acquire_timeout<T>(
        &self,
        future: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        tokio::time::timeout(self.pool.options().get_acquire_timeout(), future)
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    }

    /// With a permit: an idle connection that answers a ping, or a new one.
    async fn open<'a>(&'a self, permit: SemaphorePermit<'a>) -> Result<Lease<'a, DB>, sqlx::Error> {
        let idle_timeout = self.pool.options().get_idle_timeout();
        loop {
            let popped = self.lock_idle().pop();
            let Some(mut idle) = popped else { break };
            let idle_for = idle.since.elapsed();
            if idle_timeout.is_some_and(|limit| idle_for >= limit) {
                spawn_close(idle.connection);
                continue;
            }
            if idle_for < PING_IF_IDLE_FOR || idle.connection.ping().await.is_ok() {
                return Ok(Lease::new(self, idle.connection, idle.opened, permit));
            }
            // Dead (a server restart, a network change): dropped, try the next one.
        }
        // Boxed: the pool's acquire is most of this future's size, and operations waiting for
        // a permit hold this future all the while.
        let connection = Box::pin(self.pool.acquire()).await?.detach();
        Ok(Lease::new(self, connection, Instant::now(), permit))
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle<DB::Connection>>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn put_back(&self, connection: DB::Connection, opened: Instant) {
        let beyond_lifetime = self
            .pool
            .options()
            .get_max_lifetime()
            .is_some_and(|limit| opened.elapsed() >= limit);
        if beyond_lifetime || self.pool.is_closed() {
            spawn_close(connection);
            return;
        }
        self.lock_idle().push(Idle {
            connection,
            opened,
            since: Instant::now(),
        });
    }
}

/// Closes `connection` politely (the server sees a goodbye, not a reset) off the request path.
fn spawn_close<C: Connection + 'static>(connection: C) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let _ = connection.close().await;
        });
    }
}

/// One connection, lent for one operation. [`Lease::finish`] hands it back unless the
/// operation's error says it may be broken; dropping the lease without finishing (a cancelled
/// operation) closes the connection, since a statement may be half sent.
pub(crate) struct Lease<'a, DB: Database> {
    owner: &'a HeldConnections<DB>,
    connection: Option<DB::Connection>,
    opened: Instant,
    _permit: SemaphorePermit<'a>,
}

impl<'a, DB: Database> Lease<'a, DB> {
    fn new(
        owner: &'a HeldConnections<DB>,
        connection: DB::Connection,
        opened: Instant,
        permit: SemaphorePermit<'a>,
    ) -> Self {
        Self {
            owner,
            connection: Some(connection),
            opened,
            _permit: permit,
        }
    }

    /// The connection, to run statements on.
    pub(crate) fn connection(&mut self) -> &mut DB::Connection {
        self.connection
            .as_mut()
            .expect("a lease holds its connection until it is finished")
    }

    /// Ends the operation: the connection goes back to the idle stack if `result` is a
    /// success or an error the server reported on a working connection (`unavailable` says
    /// which server errors mean it is shutting down or the connection is lost); otherwise
    /// it is dropped. Returns `result`.
    pub(crate) fn finish<T>(
        mut self,
        result: Result<T, sqlx::Error>,
        unavailable: fn(&dyn DatabaseError) -> bool,
    ) -> Result<T, sqlx::Error> {
        let reusable = match &result {
            Ok(_) => true,
            Err(sqlx::Error::Database(error)) => !unavailable(error.as_ref()),
            Err(_) => false,
        };
        if let Some(connection) = self.connection.take() {
            if reusable {
                self.owner.put_back(connection, self.opened);
            }
        }
        result
    }
}

/// Runs `$body`, a future using the connection bound to `$connection`, on a connection of
/// `$held` ([`HeldConnections`]), and finishes the lease with its result (see
/// [`Lease::finish`]); the result, a `Result<_, sqlx::Error>`.
macro_rules! on_held {
    ($held:expr, $unavailable:expr, |$connection:ident| $body:expr) => {
        match $held.acquire().await {
            Ok(mut lease) => {
                let result = {
                    let $connection = lease.connection();
                    $body.await
                };
                lease.finish(result, $unavailable)
            }
            Err(error) => Err(error),
        }
    };
}
pub(crate) use on_held;

#[cfg(feature = "mysql")]
impl<DB: Database> Lease<'_, DB> {
    /// [`Lease::finish`] for an operation whose errors are already [`sessile::StoreError`]s:
    /// the connection is kept after a success, a corrupt row, an error that did not come from
    /// the driver (a value that did not encode) and an ordinary server error.
    pub(crate) fn finish_store<T>(
        mut self,
        result: Result<T, sessile::StoreError>,
        unavailable: fn(&dyn DatabaseError) -> bool,
    ) -> Result<T, sessile::StoreError> {
        use sessile::StoreError;
        let reusable = match &result {
            // A refused change set rolled its transaction back before answering.
            Ok(_) | Err(StoreError::Corrupt(_) | StoreError::Operation(_)) => true,
            Err(StoreError::Backend(source)) => match source.downcast_ref::<sqlx::Error>() {
                Some(sqlx::Error::Database(error)) => !unavailable(error.as_ref()),
                Some(_) => false,
                None => true,
            },
            Err(_) => false,
        };
        if let Some(connection) = self.connection.take() {
            if reusable {
                self.owner.put_back(connection, self.opened);
            }
        }
        result
    }
}
