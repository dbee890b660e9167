//! The CA that the options' `tls_ca_certificates` names, applied to the driver's connect options
//! (the URL's `sslrootcert` / `ssl-ca` name a file; this is the same for PEM held in memory).

use crate::Error;

/// Checks that `pem` holds at least one PEM certificate, so an empty or mistaken value (a key, a
/// path) is a setup error rather than an `UnknownIssuer` at the first connection.
fn check_pem(pem: &[u8]) -> Result<(), Error> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    if pem.windows(BEGIN.len()).any(|window| window == BEGIN) {
        Ok(())
    } else {
        Err(Error::TlsCa {
            reason: "no `-----BEGIN CERTIFICATE-----` block in the PEM text".to_owned(),
        })
    }
}

/// Verifies the server against `pem`: a mode that would not verify (`allow`, `prefer` (the
/// default), `require`) becomes `verify-full`; `verify-ca` stays; `disable` is a contradiction.
#[cfg(feature = "postgres")]
pub(crate) fn postgres(
    options: sqlx::postgres::PgConnectOptions,
    pem: &[u8],
) -> Result<sqlx::postgres::PgConnectOptions, Error> {
    use sqlx::postgres::PgSslMode;
    check_pem(pem)?;
    let mode = match options.get_ssl_mode() {
        PgSslMode::Disable => return Err(without_tls("sslmode=disable")),
        PgSslMode::VerifyCa => PgSslMode::VerifyCa,
        _ => PgSslMode::VerifyFull,
    };
    Ok(options.ssl_mode(mode).ssl_root_cert_from_pem(pem.to_vec()))
}

/// Verifies the server against `pem`: `PREFERRED` (the default) and `REQUIRED` become
/// `VERIFY_IDENTITY`; `VERIFY_CA` stays; `DISABLED` is a contradiction.
#[cfg(feature = "mysql")]
pub(crate) fn mysql(
    options: sqlx::mysql::MySqlConnectOptions,
    pem: &[u8],
) -> Result<sqlx::mysql::MySqlConnectOptions, Error> {
    use sqlx::mysql::MySqlSslMode;
    check_pem(pem)?;
    let mode = match options.get_ssl_mode() {
        MySqlSslMode::Disabled => return Err(without_tls("ssl-mode=DISABLED")),
        MySqlSslMode::VerifyCa => MySqlSslMode::VerifyCa,
        _ => MySqlSslMode::VerifyIdentity,
    };
    Ok(options.ssl_mode(mode).ssl_ca_from_pem(pem.to_vec()))
}

fn without_tls(setting: &str) -> Error {
    Error::TlsCa {
        reason: format!("a CA is given but the connection options say {setting}"),
    }
}
