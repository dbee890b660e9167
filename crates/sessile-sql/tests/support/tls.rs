//! The throwaway CA that `scripts/services` generates for its TLS-only servers.

use std::path::PathBuf;

/// Where `scripts/services` keeps the CA and the TLS servers' data: `SESSILE_TLS_DIR`, default
/// `/tmp/sessile-tls`.
pub fn tls_dir() -> PathBuf {
    std::env::var_os("SESSILE_TLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/sessile-tls"))
}

/// The CA that signed the TLS servers' certificate.
pub fn ca_file() -> PathBuf {
    existing("ca.pem")
}

/// A CA that signed nothing the servers present.
pub fn wrong_ca_file() -> PathBuf {
    existing("wrong-ca.pem")
}

/// The PEM text of a file from [`ca_file`] or [`wrong_ca_file`].
pub fn pem(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

/// The URL without its parameters (no CA, the driver's default TLS mode).
pub fn without_parameters(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn existing(name: &str) -> PathBuf {
    let path = tls_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing; `scripts/services` generates it and starts the TLS servers \
         (SESSILE_TLS_DIR names another directory)",
        path.display()
    );
    path
}

/// An error's message followed by its sources', which is what an operator reads in the log.
pub fn message(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// rustls's words (through sqlx) for a server certificate no trusted CA signed.
pub const UNKNOWN_ISSUER: &str = "invalid peer certificate: UnknownIssuer";

/// The server `variable` names, or `default` with `{ca}` replaced by the CA file.
pub fn server_url(variable: &str, default: &str) -> String {
    std::env::var(variable)
        .unwrap_or_else(|_| default.replace("{ca}", &ca_file().display().to_string()))
}

/// The store, or a failed test naming the command that starts the server.
pub fn connected<S>(result: Result<S, sessile_sql::Error>, variable: &str) -> S {
    result.unwrap_or_else(|error| {
        panic!(
            "cannot connect over TLS ({error}); start the TLS servers with `scripts/services` \
             or point {variable} at a server"
        )
    })
}

/// Asserts that connecting failed with an error whose text says `words`.
pub fn assert_refused<S>(result: Result<S, sessile_sql::Error>, words: &str) {
    let Err(error) = result else {
        panic!("connected, where the connection should have been refused ({words})");
    };
    let message = message(&error);
    assert!(message.contains(words), "expected {words:?} in: {message}");
}
