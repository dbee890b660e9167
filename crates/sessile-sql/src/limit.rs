//! The per-user session limit, the part every dialect shares: which writes carry one, and
//! turning the user's rows, read inside the dialect's transaction, into
//! [`UserLimit::decide`]'s answer. How the transaction keeps concurrent sign-ins of one user
//! apart is the dialect's own (ARCHITECTURE.md, "The per-user limit in SQL").

use sessile::limit::{LimitDecision, UserLimit};
use sessile::{ChangeSet, StoreError, StoreKey, Timestamp};
#[cfg(any(feature = "postgres", feature = "mysql"))]
use sessile::{CreateOutcome, Record, RotateOutcome, UpdateOutcome};

use crate::codec::decode_key;

/// One row of a user's sessions as every dialect's `user_sessions` statement reads it: the
/// key, `last_seen` and `expires_at` (Unix milliseconds). Expired rows may be among them: the
/// MySQL statement reads the user's whole index range, since it locks it.
pub(crate) type UserRow = (Vec<u8>, i64, i64);

/// A sign-in under a per-user limit, as the server stores run it in one transaction.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) enum SignIn<'a> {
    /// `Store::create_within_limit`.
    Create {
        key: &'a StoreKey,
        record: &'a Record,
    },
    /// `update` (`to: None`) or `rotate` whose changes carry `ChangeSet::user_limit`.
    Change {
        from: &'a StoreKey,
        to: Option<&'a StoreKey>,
        changes: &'a ChangeSet,
    },
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl<'a> SignIn<'a> {
    /// The key the session is written under, when it is not the key it was read from: it
    /// must be free.
    #[cfg(feature = "postgres")]
    pub(crate) fn new_key(&self) -> Option<&'a StoreKey> {
        match *self {
            SignIn::Create { key, .. } => Some(key),
            SignIn::Change { to, .. } => to,
        }
    }

    /// The keys the signing-in session lives under, before and after: never counted.
    pub(crate) fn keys(&self) -> Vec<&'a StoreKey> {
        match *self {
            SignIn::Create { key, .. } => vec![key],
            SignIn::Change { from, to, .. } => std::iter::once(from).chain(to).collect(),
        }
    }
}

/// What a sign-in under a per-user limit did; only `Written` commits its transaction.
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limited {
    Written,
    /// The session to sign in is gone (`update`, `rotate`).
    Gone,
    /// The new key is taken.
    Collision,
    Refused,
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl Limited {
    /// As `Store::create_within_limit` answers it (a create finds no session gone).
    pub(crate) fn created(self) -> CreateOutcome {
        match self {
            Limited::Written => CreateOutcome::Created,
            Limited::Collision | Limited::Gone => CreateOutcome::Collision,
            Limited::Refused => CreateOutcome::Refused,
        }
    }

    /// As `update` answers it (an update writes under its own key: no collision).
    pub(crate) fn updated(self) -> UpdateOutcome {
        match self {
            Limited::Written => UpdateOutcome::Applied,
            Limited::Gone | Limited::Collision => UpdateOutcome::Gone,
            Limited::Refused => UpdateOutcome::Refused,
        }
    }

    /// As `rotate` answers it.
    pub(crate) fn rotated(self) -> RotateOutcome {
        match self {
            Limited::Written => RotateOutcome::Rotated,
            Limited::Gone => RotateOutcome::Gone,
            Limited::Collision => RotateOutcome::Collision,
            Limited::Refused => RotateOutcome::Refused,
        }
    }
}

/// The user and limit of the sign-in `changes` make, if they make one under a limit: an
/// `update` or `rotate` with neither is written as it always is.
pub(crate) fn sign_in(changes: &ChangeSet) -> Option<(&str, &UserLimit)> {
    match (&changes.user, &changes.user_limit) {
        (Some(Some(user)), Some(limit)) => Some((user.as_str(), limit)),
        _ => None,
    }
}

/// [`UserLimit::decide`] over the user's `rows` that are live at `now`, leaving out the keys
/// the signing-in session lives under: the sessions to evict, or `None` to refuse.
pub(crate) fn decide(
    limit: &UserLimit,
    rows: Vec<UserRow>,
    signing_in: &[&StoreKey],
    now: Timestamp,
) -> Result<Option<Vec<StoreKey>>, StoreError> {
    let mut others = Vec::with_capacity(rows.len());
    for (key, last_seen, expires_at) in rows {
        if Timestamp::from_millis(expires_at) <= now {
            continue;
        }
        let key = decode_key(&key)?;
        if !signing_in.contains(&&key) {
            others.push((Timestamp::from_millis(last_seen), key));
        }
    }
    Ok(match limit.decide(others) {
        LimitDecision::Admit { evict } => Some(evict),
        LimitDecision::Refuse => None,
    })
}

#[cfg(test)]
mod tests {
    use sessile::limit::LimitPolicy;
    use sessile::SessionId;

    use super::*;

    #[test]
    fn only_live_rows_other_than_the_signing_in_keys_count() {
        let now = Timestamp::from_millis(100);
        let (signing, old, recent, expired) = (
            SessionId::generate().store_key(),
            SessionId::generate().store_key(),
            SessionId::generate().store_key(),
            SessionId::generate().store_key(),
        );
        let row = |key: &StoreKey, last_seen, expires_at| {
            (key.as_bytes().to_vec(), last_seen, expires_at)
        };
        let rows = vec![
            row(&signing, 1, 200),
            row(&recent, 50, 200),
            row(&expired, 0, 100),
            row(&old, 10, 200),
        ];
        let evict = UserLimit::new(2, LimitPolicy::EvictLeastRecentlyUsed);
        assert_eq!(
            decide(&evict, rows.clone(), &[&signing], now).unwrap(),
            Some(vec![old])
        );
        let refuse = UserLimit::new(2, LimitPolicy::Refuse);
        assert_eq!(
            decide(&refuse, rows.clone(), &[&signing], now).unwrap(),
            None
        );
        let roomy = UserLimit::new(3, LimitPolicy::Refuse);
        assert_eq!(
            decide(&roomy, rows, &[&signing], now).unwrap(),
            Some(vec![])
        );
    }

    #[test]
    fn a_change_set_signs_in_under_a_limit_only_with_both() {
        let limit = UserLimit::new(1, LimitPolicy::Refuse);
        let mut changes = ChangeSet::default();
        changes.user_limit = Some(limit);
        assert!(sign_in(&changes).is_none());
        changes.user = Some(None);
        assert!(sign_in(&changes).is_none(), "a sign-out is never limited");
        changes.user = Some(Some("ada".into()));
        assert_eq!(sign_in(&changes), Some(("ada", &limit)));
        changes.user_limit = None;
        assert!(sign_in(&changes).is_none());
    }
}
