//! Test helpers for sessile and for anyone writing a store: the store conformance suite
//! ([`cases`], generated as one test per case by [`crate::store_conformance!`]), a call-counting
//! store wrapper ([`CountingStore`]), a store that never answers ([`HangingStore`]) and an event
//! sink that remembers what it saw ([`RecordingEvents`]).
//!
//! Enabled by the `testkit` feature; add it to your `[dev-dependencies]`:
//!
//! ```toml
//! [dev-dependencies]
//! sessile = { version = "0.1", features = ["testkit"] }
//! ```
//!
//! A store is done when its test file runs the whole suite against a real server:
//!
//! ```
//! // tests/memory_conformance.rs
//! use sessile::MemoryStore;
//!
//! sessile::store_conformance!(async { MemoryStore::new() });
//! # fn main() {}
//! ```

pub mod adapter_cases;
mod bench_fixtures;
#[doc(hidden)] // the cases run through `store_conformance!`
pub mod cases;
mod counting;
mod grace_cases;
mod hanging;
mod lifetime_cases;
mod limit_cases;
#[doc(hidden)] // the cases run through `node_layout_conformance!`
pub mod node_cases;
mod operation_cases;
mod recording;

#[doc(hidden)] // shared by the store crates' benches, not an API
pub use bench_fixtures::{
    bench_touch, delta_bench_change_sets, delta_bench_operation_sets, delta_bench_stored_data,
    BENCH_NOW,
};
pub use counting::{CountingStore, StoreCalls};
pub use hanging::HangingStore;
pub use recording::RecordingEvents;

/// Generates the store conformance suite: one `#[test]` per case of [`cases`], named after it,
/// so a failing case names the broken guarantee.
///
/// The first argument is an expression evaluated once per case that yields a future resolving to
/// a fresh store (any `impl Store`). Each case runs on its own multi-threaded Tokio runtime with
/// two workers (what `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` gives), so the
/// future may connect pools or spawn tasks. Cases run in parallel and never assume the store is
/// empty: stores for SQL servers can share one table between them.
///
/// Stores that can hold undecodable data pass `corrupt = <hook>`, which adds
/// [`cases::corrupt_record_is_reported`] and the cases that update, increment and rotate a
/// corrupt record (each answers `Err(Corrupt)` or an outcome, never another error, so the
/// engine can treat the record as no session). The hook receives the store (`Arc<S>`) and the
/// key of a record the case just created, and must overwrite that record with garbage, for
/// example `UPDATE sessions SET data = 'not json' WHERE key = $1`. [`crate::MemoryStore`] keeps
/// typed records and cannot hold corrupt data, so these cases do not apply to it.
///
/// ```
/// // tests/my_store_conformance.rs
/// # mod my_store {
/// #     pub use sessile::MemoryStore as MyStore;
/// #     pub async fn write_garbage(_store: &MyStore, _key: sessile::StoreKey) {}
/// # }
/// use my_store::{write_garbage, MyStore};
///
/// sessile::store_conformance!(
///     async { MyStore::new() },
///     corrupt = |store, key| async move { write_garbage(&store, key).await },
/// );
/// # fn main() {}
/// ```
///
/// A store that keeps expired records until cleanup deletes them (SQL tables, the memory store)
/// adds the flag `keeps_expired` after the other arguments, which adds
/// [`cases::lookup_names_the_deadline_of_an_expired_record`]: its [`crate::Store::lookup`]
/// must then report an expired record as expired, by the right deadline, instead of missing.
///
/// ```
/// // tests/memory_conformance.rs
/// sessile::store_conformance!(async { sessile::MemoryStore::new() }, keeps_expired);
/// # fn main() {}
/// ```
///
/// To run the suite twice in one file (two backends), invoke it in two modules.
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
#[macro_export]
macro_rules! store_conformance {
    ($make_store:expr $(, $flag:ident)* $(,)?) => {
        $crate::__store_conformance_cases!(
            $make_store;
            round_trip_keeps_every_field,
            idle_deadline_expires_record,
            absolute_deadline_caps_every_touch,
            expired_record_is_never_changed,
            deleted_session_is_never_resurrected,
            concurrent_increments_of_many_sessions_get_their_own_outcomes,
            rotate_keeps_data_and_deadlines,
            rotate_collision_changes_nothing,
            update_changes_metadata_and_touch,
            user_index_lists_live_sessions_oldest_first,
            delete_user_sessions_keeps_one,
            user_change_moves_session_between_users,
            delete_expired_removes_only_expired_in_batches,
            unicode_keys_and_values_round_trip,
            large_value_round_trips,
            create_collides_with_live_key,
            create_over_expired_key_is_consistent,
            lookup_tells_live_expired_and_missing,
            scan_reports_every_session_exactly_once,
            user_listing_pages_hold_each_session_once_oldest_first,
            own_idle_timeout_moves_every_touch,
            change_set_sets_and_takes_back_own_lifetime,
            revocations_keep_a_not_before_per_user,
            rotation_leaves_a_forward_pointer_for_the_grace,
            forward_pointer_is_no_session,
            delete_removes_a_forward_pointer,
            rotation_of_a_gone_session_leaves_no_pointer,
            user_limit_evicts_the_least_recently_used,
            user_limit_breaks_last_seen_ties_by_the_smallest_key,
            user_limit_refuses_a_new_session_past_it,
            user_limit_applies_to_sign_ins_by_rotation_and_update,
            rotation_onto_an_expired_key_is_consistent,
            concurrent_sign_ins_leave_exactly_the_limit,
        );
        $crate::__cases_every_layout_passes!($make_store);
        $( $crate::__store_conformance_option!($flag, $make_store); )*
    };
    ($make_store:expr, corrupt = $corrupt:expr $(, $flag:ident)* $(,)?) => {
        $crate::store_conformance!($make_store $(, $flag)*);
        $crate::__corrupt_record_cases!($make_store, $corrupt);
    };
}

/// Generates the conformance suite for a store that keeps a Node package's layout
/// (`sessile-node`): one `#[test]` per case of [`node_cases`], plus the reusable cases of
/// [`cases`] that ask only for what such a layout keeps (concurrent updates and increments, the
/// integer rule, clear-and-set, the document operations and their concurrency cases).
///
/// Options, in this order: `corrupt = <hook>` as for [`crate::store_conformance!`] (required:
/// every Node layout stores JSON text that can be garbage), then `sweeps_expired` when the
/// store's [`crate::Store::delete_expired`] is what frees expired records (SQL tables; not Redis,
/// which expires keys itself), and `scans` when its [`crate::Store::scan`] pages through every
/// session ([`node_cases::scan_reports_every_session_exactly_once`]). A layout that keeps a per-user index (a Sequelize table with a
/// user column) says `user_index` right after `corrupt`: it then runs
/// [`node_cases::user_index_lists_and_revokes`] instead of
/// [`node_cases::user_index_is_unsupported`].
///
/// ```
/// // tests/my_layout_conformance.rs
/// # mod my_layout {
/// #     pub use sessile::MemoryStore as MyLayout;
/// #     pub async fn write_garbage(_store: &MyLayout, _key: sessile::StoreKey) {}
/// # }
/// use my_layout::{write_garbage, MyLayout};
///
/// sessile::node_layout_conformance!(
///     async { MyLayout::new() },
///     corrupt = |store, key| async move { write_garbage(&store, key).await },
///     sweeps_expired,
/// );
/// # fn main() {}
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
#[macro_export]
macro_rules! node_layout_conformance {
    // A layout that keeps a per-user index (a Sequelize table with a user column): the
    // profile's cases, with the index's instead of `user_index_is_unsupported`.
    ($make_store:expr, corrupt = $corrupt:expr, user_index $(, $flag:ident)* $(,)?) => {
        $crate::__node_layout_cases!(
            $make_store;
            round_trip_keeps_data_user_and_deadline,
            idle_deadline_expires_record,
            expired_record_is_never_changed,
            deleted_session_is_never_resurrected,
            rotate_moves_data_and_user,
            collisions_change_nothing,
            user_changes_persist,
            user_index_lists_and_revokes,
            concurrent_increments_of_many_sessions_get_their_own_outcomes,
            per_user_limit_is_unsupported,
        );
        $crate::__cases_every_layout_passes!($make_store);

        $crate::__corrupt_record_cases!($make_store, $corrupt);

        $( $crate::__node_layout_option!($flag, $make_store); )*
    };
    ($make_store:expr, corrupt = $corrupt:expr $(, $flag:ident)* $(,)?) => {
        $crate::__node_layout_cases!(
            $make_store;
            round_trip_keeps_data_user_and_deadline,
            idle_deadline_expires_record,
            expired_record_is_never_changed,
            deleted_session_is_never_resurrected,
            rotate_moves_data_and_user,
            collisions_change_nothing,
            user_changes_persist,
            user_index_is_unsupported,
            own_lifetime_is_unsupported,
            revocations_are_unsupported,
            rotation_keeps_no_forward_pointer,
            concurrent_increments_of_many_sessions_get_their_own_outcomes,
            per_user_limit_is_unsupported,
        );
        $crate::__cases_every_layout_passes!($make_store);

        $crate::__corrupt_record_cases!($make_store, $corrupt);

        $( $crate::__node_layout_option!($flag, $make_store); )*
    };
}

/// The cases both suites run: what a Node layout keeps as well as sessile's own (concurrent
/// updates and increments, the integer rule, clear-and-set, the document operations and their
/// concurrency cases, the live count). One list, so a new case reaches both.
#[doc(hidden)]
#[macro_export]
macro_rules! __cases_every_layout_passes {
    ($make_store:expr) => {
        $crate::__store_conformance_cases!(
            $make_store;
            concurrent_updates_of_different_keys_all_persist,
            concurrent_increments_add_up,
            increment_follows_the_integer_rule,
            clear_and_set_in_one_change_set,
            operation_push_appends,
            operation_pop_removes_first_or_last,
            operation_pull_removes_every_equal_element,
            operation_add_to_set_appends_only_missing_values,
            operation_rename_moves_a_value_in_the_store,
            operation_increment_adds_in_the_commit,
            operation_paths_and_order_follow_the_reference,
            operation_type_mismatch_refuses_the_whole_commit,
            concurrent_pushes_to_one_array_all_persist,
            concurrent_add_to_set_keeps_each_value_once,
            concurrent_pushes_and_pulls_of_other_values_lose_none,
            rename_concurrent_with_a_set_of_another_key_keeps_both,
            concurrent_increments_in_the_commit_add_up,
            count_live_counts_live_sessions_only,
        );
    };
}

/// The cases that need a corrupt record: one test each, each with its own record corrupted by
/// the hook.
#[doc(hidden)]
#[macro_export]
macro_rules! __corrupt_record_cases {
    ($make_store:expr, $corrupt:expr) => {
        $crate::__corrupt_record_cases!(
            $make_store, $corrupt;
            corrupt_record_is_reported,
            update_of_corrupt_record_is_no_failure,
            increment_of_corrupt_record_is_no_failure,
            rotate_of_corrupt_record_is_no_failure,
        );
    };
    ($make_store:expr, $corrupt:expr; $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::testkit::__private::run(async {
                    let store = $make_store.await;
                    $crate::testkit::cases::$case(store, $corrupt).await;
                });
            }
        )+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_option {
    (keeps_expired, $make_store:expr) => {
        $crate::__store_conformance_cases!(
            $make_store;
            lookup_names_the_deadline_of_an_expired_record
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __node_layout_option {
    (sweeps_expired, $make_store:expr) => {
        $crate::__node_layout_cases!($make_store; delete_expired_removes_only_expired);
    };
    (scans, $make_store:expr) => {
        $crate::__node_layout_cases!($make_store; scan_reports_every_session_exactly_once);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __node_layout_cases {
    ($make_store:expr; $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::testkit::__private::run(async {
                    let store = $make_store.await;
                    $crate::testkit::node_cases::$case(store).await;
                });
            }
        )+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    ($make_store:expr; $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::testkit::__private::run(async {
                    let store = $make_store.await;
                    $crate::testkit::cases::$case(store).await;
                });
            }
        )+
    };
}

/// Generates the adapter HTTP suite: one `#[test]` per case of [`adapter_cases`], named after
/// it, each on a fresh two-worker Tokio runtime, against the adapter's app on a loopback port.
///
/// The argument is the serve function, `Fn(SessionManager, Contract) -> impl Future<Output =
/// TestApp>`: it builds the adapter's app around the case's manager (its middleware, its
/// `Session` extractor), with `GET /untouched` answering `untouched` without the session and
/// every other path answered by [`adapter_cases::Contract::respond`], starts it on
/// `127.0.0.1:0`, and returns its address in a [`adapter_cases::TestApp`] that stops it when
/// dropped.
///
/// [`SessionManager`]: crate::SessionManager
/// [`Contract`]: adapter_cases::Contract
/// [`TestApp`]: adapter_cases::TestApp
///
/// ```
/// // tests/http.rs of an adapter crate
/// use sessile::testkit::adapter_cases::{Contract, TestApp};
/// use sessile::SessionManager;
///
/// async fn serve(manager: SessionManager, contract: Contract) -> TestApp {
///     // Build the app with the adapter, bind 127.0.0.1:0, spawn the server, then:
///     # let (_, _) = (manager, contract);
///     # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
///     TestApp::new(listener.local_addr().unwrap(), listener)
/// }
///
/// # #[cfg(any())]
/// sessile::adapter_http_suite!(serve);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! adapter_http_suite {
    ($serve:expr $(,)?) => {
        $crate::adapter_http_suite!(
            $serve;
            store_calls_per_request,
            only_responses_that_set_the_cookie_carry_cache_headers,
            concurrent_writes_of_different_keys_all_persist,
            concurrent_increments_add_up,
            logout_during_slow_writes_stays_logged_out,
            malformed_cookies_get_a_fresh_session_without_a_store_call,
            planted_and_non_ascii_cookies_never_sign_the_user_out,
            a_hanging_store_answers_503,
            other_session_failures_answer_500,
            the_client_address_reaches_the_device_record,
            a_session_over_its_size_limit_answers_413,
            a_sign_in_past_the_user_limit_is_refused_or_evicts,
            logout_clears_site_data_when_configured,
        );
    };
    ($serve:expr; $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::testkit::__private::run($crate::testkit::adapter_cases::$case($serve));
            }
        )+
    };
}

#[doc(hidden)]
pub mod __private {
    use std::future::Future;

    /// Runs one conformance case on a fresh two-worker runtime.
    pub fn run(case: impl Future<Output = ()>) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime for the conformance case")
            .block_on(case);
    }
}
