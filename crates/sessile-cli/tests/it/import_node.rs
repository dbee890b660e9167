//! `import-node` end to end: a koa-generic-session-sequelize table holding the real package's
//! documents (the store-vector fixture, made by running the npm packages) moved by the built
//! binary into sessile's own SQLite store, over more than one scan page.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sessile::takeover::Takeover;
use sessile::{Clock, SessionId, Store, SystemClock};
use sessile_sql::SqliteStoreOptions;

use crate::support::{runtime, sessile};

/// More than one scan page (`SCAN_PAGE` is 1000).
const LIVE: u32 = 1200;
const EXPIRED: u32 = 2;
const SECRET: [u8; 32] = [7; 32];

/// koa-generic-session's stored document after a sign-in and a change (the store-vector
/// fixture's "change" step with `cookie.maxAge 3600000`), and the data and user it holds.
fn node_document() -> (String, Value, String) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sessile-node/tests/node/store-vectors.json");
    let vectors: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the store vectors"))
            .expect("JSON vectors");
    let vector = vectors["documents"]
        .as_array()
        .expect("a document list")
        .iter()
        .find(|v| {
            v["package"] == "koa-generic-session"
                && v["setting"] == "cookie.maxAge 3600000"
                && v["step"] == "change"
        })
        .expect("the koa-generic-session change vector");
    (
        vector["document"].as_str().expect("a document").to_owned(),
        vector["expected"]["data"].clone(),
        vector["expected"]["user"]
            .as_str()
            .expect("a user")
            .to_owned(),
    )
}

fn node_id(i: u32) -> String {
    format!("import-{i:025}")
}

/// The Node table (made by `migrate` with the package's DDL), filled in one statement: `LIVE`
/// sessions live for another hour, `EXPIRED` long expired.
async fn fill_node_table(url: &str, document: &str, now_secs: i64) {
    let pool = sqlx::SqlitePool::connect(url)
        .await
        .expect("open the Node table's file");
    for (count, expires, from) in [(LIVE, now_secs + 3600, 0), (EXPIRED, 1000, LIVE)] {
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
             INSERT INTO \"Sessions\" (id, data, expires) \
             SELECT 'koa:sess:import-' || printf('%025d', i), ?, ? FROM n",
        )
        .bind(from)
        .bind(from + count - 1)
        .bind(document)
        .bind(expires)
        .execute(&pool)
        .await
        .expect("insert the Node rows");
    }
    pool.close().await;
}

async fn node_rows(url: &str) -> i64 {
    let pool = sqlx::SqlitePool::connect(url).await.expect("open");
    let count = sqlx::query_scalar("SELECT COUNT(*) FROM \"Sessions\"")
        .fetch_one(&pool)
        .await
        .expect("count the Node rows");
    pool.close().await;
    count
}

#[test]
fn import_node_moves_every_live_node_session_into_the_native_store() {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "sessile-cli-import-{}-{:x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (node_db, native_db) = (dir.join("node.db"), dir.join("native.db"));
    let secret = dir.join("takeover.secret");
    std::fs::write(&secret, SECRET).unwrap();
    let node_store = format!("sqlite:{}", node_db.display());
    let native_store = format!("sqlite:{}", native_db.display());
    let node_args = ["--store", &node_store, "--layout", "koa-generic-session"];
    let native_args = ["--store", &native_store];

    assert_eq!(sessile(&node_args, &["migrate"]).code, 0);
    assert_eq!(sessile(&native_args, &["migrate"]).code, 0);
    let (document, data, user) = node_document();
    let now_secs = SystemClock.now().as_millis() / 1000;
    let rt = runtime();
    rt.block_on(fill_node_table(&node_store, &document, now_secs));

    let secret_arg = secret.display().to_string();
    let import = |extra: &[&str]| {
        let mut command = vec!["--json", "import-node", "--to", &native_store];
        command.extend(["--secret-file", &secret_arg]);
        command.extend(extra);
        sessile(&node_args, &command)
    };
    let run = import(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.json["moved"], LIVE, "{}", run.stdout);
    assert_eq!(run.json["expired"], EXPIRED, "{}", run.stdout);
    assert_eq!(run.json["gone"], 0, "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!(
            "import-node: moved {LIVE} of {LIVE} Node sessions"
        )),
        "a final progress line: {}",
        run.stderr
    );

    // Only the expired rows are left in the Node table (for `gc`).
    assert_eq!(rt.block_on(node_rows(&node_store)), i64::from(EXPIRED));
    // Each session is in the native store under the id takeover mode gives it, with the
    // Node session's data, user and deadline.
    let takeover = Takeover::new(&SECRET).unwrap();
    rt.block_on(async {
        let native = SqliteStoreOptions::new()
            .open(&native_db)
            .await
            .expect("the native store");
        let now = SystemClock.now();
        assert_eq!(native.count_live(now).await.unwrap(), u64::from(LIVE));
        for i in [0, 999, 1000, LIVE - 1] {
            let legacy = SessionId::foreign(&node_id(i)).unwrap();
            let key = takeover.successor(&legacy).unwrap().store_key();
            let record = native
                .load(&key, now)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("session {i} moved"));
            assert_eq!(serde_json::to_value(&record.data).unwrap(), data);
            assert_eq!(record.user.as_deref(), Some(user.as_str()));
            assert_eq!(record.idle_deadline.as_millis(), (now_secs + 3600) * 1000);
        }
    });

    // A second run finds nothing left to move.
    let again = import(&[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json["moved"], 0);

    // A short secret and a native source layout are usage errors (exit 2).
    std::fs::write(&secret, b"short").unwrap();
    let short = import(&[]);
    assert_eq!(short.code, 2, "{}", short.stdout);
    assert_eq!(short.json["error"]["kind"], "usage");
    let native_source = sessile(
        &native_args,
        &[
            "import-node",
            "--to",
            &native_store,
            "--secret-file",
            &secret_arg,
        ],
    );
    assert_eq!(native_source.code, 2, "{}", native_source.stderr);
    assert!(native_source.stderr.contains("--layout"));

    let _ = std::fs::remove_dir_all(&dir);
}
