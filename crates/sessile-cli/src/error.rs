//! What can go wrong, as an exit code and a message that names the store and what to check.

use std::fmt;

use sessile::StoreError;

/// The kinds of failure a script can tell apart by the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The store answered with an error (a missing table, a corrupt record, a refused login).
    Failed,
    /// Arguments, URL or options that cannot work.
    Usage,
    /// No session (or no unique session) has that key.
    NotFound,
    /// The store could not be reached in time.
    Unreachable,
    /// The store's layout cannot do this (a Node layout has no per-user index).
    Unsupported,
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Failed => 1,
            Kind::Usage => 2,
            Kind::NotFound => 3,
            Kind::Unreachable => 4,
            Kind::Unsupported => 5,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Failed => "failed",
            Kind::Usage => "usage",
            Kind::NotFound => "not_found",
            Kind::Unreachable => "unreachable",
            Kind::Unsupported => "unsupported",
        }
    }
}

#[derive(Debug)]
pub struct CliError {
    pub kind: Kind,
    /// The store's URL without its password, when the error is about a store.
    pub store: Option<String>,
    pub message: String,
    /// What the operator should look at.
    pub check: Option<String>,
}

impl CliError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            store: None,
            message: message.into(),
            check: None,
        }
    }

    pub fn check(mut self, what: impl Into<String>) -> Self {
        self.check = Some(what.into());
        self
    }

    pub fn at(mut self, store: &str) -> Self {
        self.store = Some(store.to_owned());
        self
    }

    /// A store call's error, with what to check for its kind.
    pub fn from_store(store: &str, doing: &str, error: StoreError) -> Self {
        let (kind, check) = match &error {
            StoreError::Unavailable(_) => (
                Kind::Unreachable,
                "that the server is up and reachable from here, and --timeout",
            ),
            StoreError::Unsupported(_) => (
                Kind::Unsupported,
                "--layout: the Node layouts keep no per-user index and cannot be listed",
            ),
            StoreError::Corrupt(_) => (
                Kind::Failed,
                "the record the message names; sessile treats it as no session",
            ),
            _ => (
                Kind::Failed,
                "that the table exists (sessile migrate) and --table, --schema, --prefix and \
                 --layout match the app's store",
            ),
        };
        Self {
            kind,
            store: Some(store.to_owned()),
            message: format!("{doing}: {error}"),
            check: Some(check.to_owned()),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "kind": self.kind.name(),
                "exit_code": self.kind.exit_code(),
                "store": self.store,
                "message": self.message,
                "check": self.check,
            }
        })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.store {
            Some(store) => write!(f, "{store}: {}", self.message)?,
            None => write!(f, "{}", self.message)?,
        }
        if let Some(check) = &self.check {
            write!(f, "\n  check {check}")?;
        }
        Ok(())
    }
}
