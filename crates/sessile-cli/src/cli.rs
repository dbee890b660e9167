//! The command line: what `sessile --help` shows.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Look after the sessions of a sessile app from a shell: list a user's sessions, sign them out,
/// delete expired sessions, count what the store holds, apply its schema.
///
/// Sessions are named by a short key: the first 12 hex digits of their store key (the SHA-256 of
/// the session id, never the id). `sessions USER` shows it; `revoke` and `--except` take it, or
/// any longer prefix of the 64-digit store key.
#[derive(Debug, Parser)]
#[command(name = "sessile", version, max_term_width = 100)]
#[command(after_help = "\
Store URLs:
  sqlite:PATH                   a SQLite file (sqlite://PATH also works)
  postgres://USER@HOST/DB       PostgreSQL; ?sslmode=verify-full&sslrootcert=CA.pem for TLS
  mysql://USER@HOST/DB          MySQL or MariaDB; ?ssl-mode=VERIFY_IDENTITY&ssl-ca=CA.pem for TLS
  redis://HOST:6379             one Redis server; rediss:// for TLS
  redis://H1:7000,redis://H2:7001
                                a Redis Cluster (or --store repeated, or --cluster with one node)

Exit codes:
  0 done   1 the store refused or failed   2 usage error (arguments, URL, options)
  3 not found (no session with that key)   4 store unreachable   5 not supported by this layout

Examples:
  sessile --store sqlite:sessions.db sessions alice
  SESSILE_STORE=postgres://postgres@127.0.0.1/app sessile revoke-user alice --except 3fa9c2e1b7d0
  sessile --store redis://127.0.0.1:6379 --json stats")]
pub struct Cli {
    #[command(flatten, next_help_heading = "Store options")]
    pub store: StoreArgs,

    /// Print one JSON document on stdout instead of text (errors too, with the exit code).
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// Where the sessions are and how the app configured their store.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The session store's URL; repeat it (or separate URLs with commas) for a Redis Cluster.
    #[arg(
        long = "store",
        env = "SESSILE_STORE",
        value_name = "URL",
        value_delimiter = ',',
        required = true,
        hide_env_values = true
    )]
    pub urls: Vec<String>,

    /// Which app's layout the store holds: sessile's own, or a Node app's (Sequelize tables on
    /// SQL, koa-redis / connect-redis keys on Redis).
    #[arg(long, global = true, value_enum, default_value_t = Layout::Sessile)]
    pub layout: Layout,

    /// Treat a single Redis URL as a Cluster node (several URLs always mean a Cluster).
    #[arg(long, global = true)]
    pub cluster: bool,

    /// The sessions table, if the app named its own (default: sessile_sessions, or Sessions for
    /// the Node layouts).
    #[arg(long, global = true, value_name = "NAME")]
    pub table: Option<String>,

    /// PostgreSQL schema of the sessions table (default: the search path's).
    #[arg(long, global = true, value_name = "NAME")]
    pub schema: Option<String>,

    /// Redis key prefix (default sessile:), or the Koa Sequelize table's row-id prefix.
    #[arg(long, global = true, value_name = "PREFIX")]
    pub prefix: Option<String>,

    /// PEM file with the CA certificates the server's certificate is checked against (asks for
    /// verification; the URL's own sslrootcert / ssl-ca work too).
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// Give up on a connection or a store call after this many seconds.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

impl StoreArgs {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

/// A store's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Layout {
    /// sessile's own tables and keys.
    Sessile,
    /// koa-session's documents (koa-redis only).
    KoaSession,
    /// koa-generic-session's (koa-generic-session-sequelize, koa-redis).
    KoaGenericSession,
    /// koa-session-minimal's (koa-generic-session-sequelize, koa-redis).
    KoaSessionMinimal,
    /// express-session's (connect-session-sequelize, connect-redis).
    ExpressSession,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List a user's live sessions, oldest first: key, created, last seen, expires, device.
    /// Every page by default; with --limit, one page and the cursor of the next.
    Sessions {
        /// The user id the app signs sessions in with.
        user: String,
        /// Show one page of at most this many sessions, and the --cursor of the next page.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        limit: Option<u32>,
        /// Start after the page that printed this cursor (needs --limit).
        #[arg(long, value_name = "CURSOR", requires = "limit")]
        cursor: Option<String>,
    },
    /// Sign one session out (delete it), by its key.
    Revoke {
        /// The session's short key from `sessions`, or a longer prefix of its store key.
        key: String,
    },
    /// Sign a user out everywhere, or everywhere but one session.
    RevokeUser {
        /// The user id.
        user: String,
        /// Keep this session (its short key from `sessions`).
        #[arg(long, value_name = "KEY")]
        except: Option<String>,
    },
    /// Delete expired sessions in batches; safe while the app runs (live sessions are never
    /// touched, each batch is one short statement or script).
    Gc(GcArgs),
    /// Count live and expired sessions, the users with the most, and how old and idle they are.
    Stats {
        /// How many users to list.
        #[arg(long, value_name = "N", default_value_t = 10)]
        top: usize,
    },
    /// Move every session of a Node layout (--store with --layout) into sessile's own store
    /// (--to), as takeover mode moves a returning user's: same data, user and idle deadline,
    /// under the id the takeover secret names, and the Node record deleted once the native one
    /// exists. Run it with the Node app switched off (it would recreate what moved).
    ImportNode(ImportArgs),
    /// Create or update the sessions table (SQL stores), or print the SQL for your own tool.
    Migrate {
        /// Print the statements instead of running them (they are idempotent).
        #[arg(long)]
        print: bool,
    },
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Count the expired sessions and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Sessions deleted per statement or script.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
    /// Pause between batches, in milliseconds, to leave the database to the app.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub pause: u64,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// sessile's own store the sessions move to (`sessile migrate` it first); repeat it or
    /// separate URLs with commas for a Redis Cluster.
    #[arg(
        long = "to",
        value_name = "URL",
        value_delimiter = ',',
        required = true
    )]
    pub to: Vec<String>,
    /// The target's table, if the app named its own (default sessile_sessions).
    #[arg(long, value_name = "NAME")]
    pub to_table: Option<String>,
    /// The target's PostgreSQL schema (default: the search path's).
    #[arg(long, value_name = "NAME")]
    pub to_schema: Option<String>,
    /// The target's Redis key prefix (default sessile:).
    #[arg(long, value_name = "PREFIX")]
    pub to_prefix: Option<String>,
    /// A file holding the takeover secret the app gives `sessile::takeover::Takeover::new`
    /// (its bytes as they are, at least 32): a user who comes back with the Node cookie then
    /// finds the moved session under the same id.
    #[arg(long, value_name = "FILE", env = "SESSILE_TAKEOVER_SECRET_FILE")]
    pub secret_file: PathBuf,
    /// The app's absolute session lifetime (`ConfigBuilder::absolute_lifetime`), counted from
    /// the move: a Node session has no creation time.
    #[arg(long, value_name = "SECONDS", default_value_t = 12 * 60 * 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub absolute_lifetime: u64,
}
