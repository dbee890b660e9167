//! The `sessile` binary end to end, on every store: sessions signed in through a
//! `SessionManager` (the path a request takes), then listed, revoked, cleaned up and counted by
//! the built binary, and checked again through the manager with the old cookies.
//!
//! One binary for every store (one link); each test uses its own SQLite file, table or key
//! prefix, so the tests run in parallel beside the other crates' suites.

mod import_node;
mod support;
mod walk;

use support::{sessile, sqlite_fixture};

#[test]
fn sqlite_walk() {
    support::runtime().block_on(walk::walk(sqlite_fixture()));
}

#[test]
fn postgres_walk() {
    support::runtime().block_on(async { walk::walk(support::postgres_fixture().await).await });
}

#[test]
fn mariadb_walk() {
    support::runtime().block_on(async { walk::walk(support::mysql_fixture().await).await });
}

#[test]
fn redis_walk() {
    support::runtime().block_on(async { walk::walk(support::redis_fixture(false).await).await });
}

#[test]
fn redis_cluster_walk() {
    support::runtime().block_on(async { walk::walk(support::redis_fixture(true).await).await });
}

/// 100,000 expired rows: `gc` reports its progress on plain lines (stderr is a pipe here, not a
/// terminal) and deletes them all.
#[test]
fn gc_of_100k_expired_rows_shows_progress_and_finishes() {
    let fixture = sqlite_fixture();
    support::runtime().block_on(support::insert_expired_sqlite_rows(&fixture, 100_000));
    let output = sessile(&fixture.args, &["--json", "gc", "--batch", "2000"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert_eq!(output.json["deleted"], 100_000);
    assert_eq!(output.json["expired"], 100_000);
    assert_eq!(
        output.json["batches"], 51,
        "50 full batches and the empty one"
    );
    assert!(
        output
            .stderr
            .lines()
            .last()
            .is_some_and(|line| line == "gc: deleted 100000 of 100000 expired sessions (100%)"),
        "the last progress line says it finished: {}",
        output.stderr
    );
    let again = sessile(&fixture.args, &["--json", "gc", "--dry-run"]);
    assert_eq!(again.json["expired"], 0);
}

/// Exit codes a script can act on, and messages that name the store and what to check.
#[test]
fn errors_name_the_store_and_have_their_own_exit_codes() {
    let unreachable = sessile(
        &["--store", "postgres://postgres:hunter2@127.0.0.1:1/test"],
        &["sessions", "alice"],
    );
    assert_eq!(unreachable.code, 4, "{}", unreachable.stderr);
    assert!(
        unreachable
            .stderr
            .starts_with("sessile: postgres://postgres:***@127.0.0.1:1/test: "),
        "{}",
        unreachable.stderr
    );
    assert!(!unreachable.stderr.contains("hunter2"));
    assert!(unreachable.stderr.contains("check that the server is up"));

    let json = sessile(
        &["--store", "redis://127.0.0.1:1"],
        &["--json", "--timeout", "2", "stats"],
    );
    assert_eq!(json.code, 4);
    assert_eq!(json.json["error"]["kind"], "unreachable");
    assert_eq!(json.json["error"]["store"], "redis://127.0.0.1:1");

    let usage = sessile(&["--store", "ftp://example"], &["stats"]);
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    assert!(usage.stderr.contains("unknown store URL scheme \"ftp\""));

    let missing = sessile(&["--store", "sqlite:/nonexistent/sessions.db"], &["stats"]);
    assert_eq!(missing.code, 4);
    assert!(missing
        .stderr
        .contains("no SQLite file at /nonexistent/sessions.db"));

    let fixture = sqlite_fixture();
    assert_eq!(sessile(&fixture.args, &["migrate"]).code, 0);
    let bad_key = sessile(&fixture.args, &["revoke", "not-a-key"]);
    assert_eq!(bad_key.code, 2, "{}", bad_key.stderr);
    let unknown = sessile(&fixture.args, &["revoke", "0123456789ab"]);
    assert_eq!(unknown.code, 3, "{}", unknown.stderr);
    assert!(unknown
        .stderr
        .contains("no session in the store has the key 0123456789ab"));

    let clap_usage = sessile(&fixture.args, &["revoke"]);
    assert_eq!(clap_usage.code, 2);
}

/// A Node layout has no per-user index: listing is refused with its own exit code, cleanup
/// works.
#[test]
fn node_layouts_refuse_listing_and_clean_up() {
    let fixture = sqlite_fixture();
    let node = |command: &[&str]| {
        let mut args: Vec<&str> = fixture.args.iter().map(String::as_str).collect();
        args.extend(["--layout", "express-session"]);
        sessile(&args, command)
    };
    let migrated = node(&["migrate"]);
    assert_eq!(migrated.code, 0, "{}", migrated.stderr);
    let listing = node(&["sessions", "alice"]);
    assert_eq!(listing.code, 5, "{}", listing.stderr);
    assert!(listing.stderr.contains("--layout"), "{}", listing.stderr);
    let gc = node(&["--json", "gc"]);
    assert_eq!(gc.code, 0, "{}", gc.stderr);
    assert_eq!(gc.json["deleted"], 0);
    assert_eq!(gc.json["expired"], 0, "a Sequelize table is scanned");
}

/// `migrate --print` gives the statements without connecting, with the app's table.
#[test]
fn migrate_prints_the_schema_for_the_named_table() {
    let printed = sessile(
        &["--store", "postgres://nobody@127.0.0.1:1/app"],
        &[
            "migrate",
            "--print",
            "--schema",
            "auth",
            "--table",
            "web_sessions",
        ],
    );
    assert_eq!(printed.code, 0, "{}", printed.stderr);
    assert!(
        printed
            .stdout
            .contains(r#"CREATE TABLE IF NOT EXISTS "auth"."web_sessions""#),
        "{}",
        printed.stdout
    );
}

#[test]
fn every_command_has_help() {
    let help = sessile::<&str>(&[], &["--help"]);
    assert_eq!(help.code, 0);
    for command in [
        "sessions",
        "revoke",
        "revoke-user",
        "gc",
        "stats",
        "migrate",
    ] {
        assert!(
            help.stdout.contains(command),
            "{command} in {}",
            help.stdout
        );
        let own = sessile::<&str>(&[], &[command, "--help"]);
        assert_eq!(own.code, 0, "{command} --help: {}", own.stderr);
        assert!(own.stdout.starts_with(char::is_uppercase), "{}", own.stdout);
    }
}

/// `--tls-ca` verifies the server with the CA the operator names (here the one
/// `scripts/services` generated for its TLS-only servers); a CA that signed nothing is refused
/// as unreachable, naming rustls's reason.
#[test]
fn tls_ca_verifies_the_server_and_a_wrong_ca_is_refused() {
    let dir = std::env::var("SESSILE_TLS_DIR").unwrap_or_else(|_| "/tmp/sessile-tls".into());
    let ca = format!("{dir}/ca.pem");
    let wrong = format!("{dir}/wrong-ca.pem");
    assert!(
        std::path::Path::new(&ca).exists(),
        "no test CA at {ca}; start the TLS servers with `scripts/services`"
    );
    let postgres = std::env::var("POSTGRES_TLS_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5433/test".into());
    let table = format!("cli_tls_{:08x}", rand::random::<u32>());
    let store = ["--store", &postgres, "--table", &table];
    let migrated = sessile(&store, &["--tls-ca", &ca, "migrate"]);
    assert_eq!(migrated.code, 0, "{}", migrated.stderr);
    let stats = sessile(&store, &["--tls-ca", &ca, "--json", "stats"]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    assert_eq!(stats.json["live"], 0);
    let refused = sessile(&store, &["--tls-ca", &wrong, "--timeout", "3", "stats"]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("UnknownIssuer"),
        "{}",
        refused.stderr
    );
    support::runtime().block_on(
        support::Fixture {
            args: Vec::new(),
            backend: support::Backend::Postgres {
                url: postgres.clone(),
                table,
            },
        }
        .drop_table(),
    );

    let redis = std::env::var("REDIS_TLS_URL").unwrap_or_else(|_| "rediss://127.0.0.1:6380".into());
    let prefix = format!("sessile-test:cli-tls:{:08x}:", rand::random::<u32>());
    let store = ["--store", &redis, "--prefix", &prefix];
    let stats = sessile(&store, &["--tls-ca", &ca, "--json", "stats"]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    assert_eq!(stats.json["live"], 0);
    let refused = sessile(&store, &["--tls-ca", &wrong, "--timeout", "3", "stats"]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
}
