//! Connecting the MySQL/MariaDB tests to the server named by `MYSQL_URL`.

use sessile::Keys;
use sessile_sql::{MySqlStore, MySqlStoreOptions};

/// The server the tests use: `MYSQL_URL`, or the MariaDB that `scripts/services` starts.
pub fn mysql_url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// A store on `table`, connected with `options`; fails the test, naming the command that starts
/// the server, when it cannot connect.
pub async fn connect(options: MySqlStoreOptions, table: &str) -> MySqlStore {
    let url = mysql_url();
    match options.table(table).connect(&url).await {
        Ok(store) => store,
        Err(error) => panic!(
            "cannot connect to MySQL/MariaDB at {url} ({error}); start it with `scripts/services` \
             or point MYSQL_URL at a server"
        ),
    }
}

/// Drops `table` and its schema-version rows, so a test starts from nothing.
pub async fn drop_table(store: &MySqlStore, table: &str) {
    sqlx::query(&format!(
        "DROP TABLE IF EXISTS `{table}`, `{table}_forwards`"
    ))
    .execute(store.pool())
    .await
    .expect("drop the test table");
    sqlx::query("DELETE FROM sessile_schema_versions WHERE table_name = ?")
        .bind(table)
        .execute(store.pool())
        .await
        .expect("forget the test table's schema versions");
}

/// An app instance (see [`super::http::app`]) on its own pool of `table`, signing with `keys`;
/// its base URL.
pub async fn spawn_instance(options: MySqlStoreOptions, table: &str, keys: Keys) -> String {
    super::http::spawn_instance(connect(options, table).await, keys).await
}
