//! TLS to the TLS-only PostgreSQL and MariaDB that `scripts/services` starts beside the plain
//! ones, with certificates from the CA it generates (`SESSILE_TLS_DIR`, default
//! `/tmp/sessile-tls`). For each server: the conformance suite over a verified connection, the
//! server's own view that the connection is encrypted, a wrong CA refused as a certificate
//! problem, and a plain connection refused by the server.

#![cfg(any(feature = "postgres", feature = "mysql"))]

/// One server's TLS tests. What differs between servers: the URL, how to connect (with the CA
/// of the options' `tls_ca_certificates`, if any), where the server shows a session's TLS
/// version, how to ask for verification against another CA or for no TLS, and the server's
/// words refusing a plain login.
macro_rules! tls_suite {
    (
        url: $variable:literal or $default:literal,
        connect: |$options:ident: $options_type:ty, $ca:ident| -> $store:ty $connect:block,
        tls_version: $version_sql:literal,
        wrong_ca: |$wrong:ident| $wrong_ca:expr,
        plain: |$plain:ident| $plain_options:expr,
        plain_refused_with: $plain_words:literal $(,)?
    ) => {
        use sessile::testkit::__private::run;

        use crate::support::tls;

        fn verified() -> $options_type {
            let url = tls::server_url($variable, $default);
            url.parse().expect(concat!($variable, " is a URL of this server"))
        }

        async fn connect_with_ca(
            $options: $options_type,
            $ca: Option<Vec<u8>>,
        ) -> Result<$store, sessile_sql::Error> $connect

        async fn connect(options: $options_type) -> Result<$store, sessile_sql::Error> {
            connect_with_ca(options, None).await
        }

        /// The URL without its parameters: no CA, and the driver's default mode, which
        /// verifies nothing.
        fn unverified() -> $options_type {
            let url = tls::server_url($variable, $default);
            tls::without_parameters(&url).parse().expect("a URL without parameters")
        }

        async fn make_store() -> $store {
            tls::connected(connect(verified()).await, $variable)
        }

        sessile::store_conformance!(make_store(), keeps_expired);

        #[test]
        fn the_connection_is_encrypted() {
            run(async {
                let store = make_store().await;
                let version: String = sqlx::query_scalar($version_sql)
                    .fetch_one(store.pool())
                    .await
                    .expect("the server reports this session's TLS version");
                assert!(version.starts_with("TLSv1."), "the server sees {version:?}");
            });
        }

        #[test]
        fn a_certificate_from_another_ca_is_refused() {
            let $wrong = verified();
            let options = $wrong_ca;
            run(async { tls::assert_refused(connect(options).await, tls::UNKNOWN_ISSUER) });
        }

        /// The CA in code turns the default mode into full verification: the right CA
        /// connects (over TLS), another CA is refused.
        #[test]
        fn a_ca_given_in_code_verifies_the_server() {
            run(async {
                let ca = Some(tls::pem(tls::ca_file()));
                let store = tls::connected(connect_with_ca(unverified(), ca).await, $variable);
                let version: String = sqlx::query_scalar($version_sql)
                    .fetch_one(store.pool())
                    .await
                    .expect("the server reports this session's TLS version");
                assert!(version.starts_with("TLSv1."), "the server sees {version:?}");
                let wrong = Some(tls::pem(tls::wrong_ca_file()));
                tls::assert_refused(connect_with_ca(unverified(), wrong).await, tls::UNKNOWN_ISSUER);
            });
        }

        #[test]
        fn a_ca_for_a_connection_without_tls_is_a_setup_error() {
            let $plain = unverified();
            let options = $plain_options;
            let ca = Some(tls::pem(tls::ca_file()));
            let not_pem = Some(b"/etc/ssl/ca.pem".to_vec());
            run(async {
                tls::assert_refused(connect_with_ca(options, ca).await, "cannot use the TLS CA");
                tls::assert_refused(
                    connect_with_ca(unverified(), not_pem).await,
                    "no `-----BEGIN CERTIFICATE-----` block",
                );
            });
        }

        #[test]
        fn a_plain_connection_is_refused() {
            let $plain = verified();
            let options = $plain_options;
            run(async { tls::assert_refused(connect(options).await, $plain_words) });
        }
    };
}

#[cfg(feature = "postgres")]
mod postgres {
    use sessile_sql::PostgresStore;
    use sqlx::postgres::{PgConnectOptions, PgSslMode};

    use crate::support::postgres::TEST_SCHEMA;

    tls_suite! {
        url: "POSTGRES_TLS_URL"
            or "postgres://postgres@127.0.0.1:5433/test?sslmode=verify-full&sslrootcert={ca}",
        connect: |options: PgConnectOptions, ca| -> PostgresStore {
            let mut builder = PostgresStore::options()
                .schema(TEST_SCHEMA)
                .table("tls_conformance")
                .max_connections(4);
            if let Some(pem) = ca {
                builder = builder.tls_ca_certificates(pem);
            }
            builder.connect_with(options).await
        },
        tls_version: "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
        wrong_ca: |options| options
            .ssl_mode(PgSslMode::VerifyFull)
            .ssl_root_cert(tls::wrong_ca_file()),
        plain: |options| options.ssl_mode(PgSslMode::Disable),
        // The server's own words: its pg_hba.conf has only `hostssl` lines.
        plain_refused_with: "no encryption",
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use sessile_sql::MySqlStore;
    use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};

    tls_suite! {
        url: "MYSQL_TLS_URL"
            or "mysql://root@127.0.0.1:3307/test?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}",
        connect: |options: MySqlConnectOptions, ca| -> MySqlStore {
            let mut builder = MySqlStore::options()
                .table("sessile_tls_conformance")
                .max_connections(4);
            if let Some(pem) = ca {
                builder = builder.tls_ca_certificates(pem);
            }
            builder.connect_with(options).await
        },
        tls_version: "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS \
                      WHERE VARIABLE_NAME = 'SSL_VERSION'",
        wrong_ca: |options| options
            .ssl_mode(MySqlSslMode::VerifyIdentity)
            .ssl_ca(tls::wrong_ca_file()),
        plain: |options| options.ssl_mode(MySqlSslMode::Disabled),
        // MariaDB answers a login without TLS under require_secure_transport with a plain
        // "Access denied" (1045): nothing is read or written in clear.
        plain_refused_with: "Access denied",
    }
}

/// The Sequelize tables take the same CA option as sessile's own stores: it verifies the TLS
/// PostgreSQL and MariaDB (the right CA connects and creates the table, another CA is refused),
/// and is a setup error for a SQLite file, which has no connection to verify.
#[cfg(all(feature = "sequelize", feature = "postgres", feature = "mysql"))]
mod sequelize {
    use std::path::PathBuf;
    use std::time::Duration;

    use sessile::testkit::__private::run;
    use sessile_sql::sequelize::{SequelizeStore, SequelizeStoreOptions};

    use crate::support::tls;

    async fn connect(url: &str, ca: PathBuf) -> Result<SequelizeStore, sessile_sql::Error> {
        SequelizeStoreOptions::express_session(Duration::from_secs(30 * 60))
            .table("tls_sequelize")
            .migrate_on_connect(true)
            .max_connections(2)
            .tls_ca_certificates(tls::pem(ca))
            .connect(url)
            .await
    }

    /// The server's URL without its TLS parameters: only the CA in code asks for verification.
    fn ca_in_code_verifies(variable: &str, default: &str) {
        let url = tls::server_url(variable, default);
        let bare = tls::without_parameters(&url).to_owned();
        run(async {
            tls::connected(connect(&bare, tls::ca_file()).await, variable);
            tls::assert_refused(
                connect(&bare, tls::wrong_ca_file()).await,
                tls::UNKNOWN_ISSUER,
            );
        });
    }

    #[test]
    fn a_ca_given_in_code_verifies_postgres() {
        ca_in_code_verifies(
            "POSTGRES_TLS_URL",
            "postgres://postgres@127.0.0.1:5433/test?sslmode=verify-full&sslrootcert={ca}",
        );
    }

    #[test]
    fn a_ca_given_in_code_verifies_mariadb() {
        ca_in_code_verifies(
            "MYSQL_TLS_URL",
            "mysql://root@127.0.0.1:3307/test?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}",
        );
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn a_ca_for_a_sqlite_file_is_a_setup_error() {
        let file = std::env::temp_dir().join("sessile-tls-sequelize.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        run(async {
            tls::assert_refused(
                connect(&url, tls::ca_file()).await,
                "a SQLite file has no TLS connection to verify",
            )
        });
    }
}
