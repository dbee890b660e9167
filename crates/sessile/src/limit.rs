//! The per-user session limit: how many live sessions one user may hold, and what a sign-in
//! past it does. The rule is here once; every store applies it inside the atomic operation
//! that signs the user in ([`crate::Store::create_within_limit`], and `update` or `rotate`
//! with [`crate::ChangeSet::user_limit`]), so concurrent sign-ins cannot overshoot it.

use crate::time::Timestamp;

/// What a sign-in does when its user already holds [`UserLimit::max`] live sessions.
///
/// ```
/// use sessile::limit::{LimitPolicy, UserLimit};
/// let limit = UserLimit::new(3, LimitPolicy::EvictLeastRecentlyUsed);
/// assert_eq!(limit.policy, LimitPolicy::EvictLeastRecentlyUsed);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitPolicy {
    /// The sign-in goes through and the user's least recently used sessions (the earliest
    /// `last_seen`, then the smallest key) are deleted, so the user holds `max` with the new
    /// one: signing in on a new device signs the oldest idle one out.
    EvictLeastRecentlyUsed,
    /// The sign-in is refused: nothing is written, the store answers `Refused`, and the
    /// engine fails the request with [`crate::SessionError::TooManySessions`] (403). The user
    /// signs out somewhere first.
    Refuse,
}

/// At most `max` live sessions per user, and what happens to a sign-in past it.
///
/// ```
/// use sessile::limit::{LimitDecision, LimitPolicy, UserLimit};
/// use sessile::Timestamp;
/// let limit = UserLimit::new(2, LimitPolicy::EvictLeastRecentlyUsed);
/// let others = vec![(Timestamp::from_millis(30), "c"), (Timestamp::from_millis(10), "a")];
/// assert_eq!(limit.decide(others), LimitDecision::Admit { evict: vec!["a"] });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct UserLimit {
    /// The most live sessions one user holds once the sign-in is through; at least 1.
    pub max: u32,
    /// What a sign-in past `max` does.
    pub policy: LimitPolicy,
}

/// What a store does for one sign-in under a [`UserLimit`]: [`UserLimit::decide`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitDecision<K> {
    /// Sign in, after deleting these sessions of the user (in the same atomic operation).
    Admit {
        /// The user's sessions to delete first; empty while the user is under the limit.
        evict: Vec<K>,
    },
    /// Write nothing: the store answers `Refused`.
    Refuse,
}

impl UserLimit {
    /// A limit of `max` live sessions per user (0 counts as 1: the sign-in itself is one).
    ///
    /// ```
    /// use sessile::limit::{LimitPolicy, UserLimit};
    /// assert_eq!(UserLimit::new(0, LimitPolicy::Refuse).max, 1);
    /// ```
    pub fn new(max: u32, policy: LimitPolicy) -> Self {
        Self {
            max: max.max(1),
            policy,
        }
    }

    /// The decision for a sign-in when the user's *other* live sessions (neither the session
    /// signing in nor, for a rotation, the key it moves from) are `others`, each as its
    /// `last_seen` and key. Under the limit: admit, evicting nothing. At or over it: refuse,
    /// or admit after evicting the least recently used (earliest `last_seen`, then smallest
    /// key) until `max - 1` others are left.
    ///
    /// ```
    /// use sessile::limit::{LimitDecision, LimitPolicy, UserLimit};
    /// use sessile::Timestamp;
    /// let at = Timestamp::from_millis;
    /// let refuse = UserLimit::new(2, LimitPolicy::Refuse);
    /// assert_eq!(refuse.decide(vec![(at(1), 1)]), LimitDecision::Admit { evict: vec![] });
    /// assert_eq!(refuse.decide(vec![(at(1), 1), (at(2), 2)]), LimitDecision::Refuse);
    /// let evict = UserLimit::new(1, LimitPolicy::EvictLeastRecentlyUsed);
    /// let others = vec![(at(5), 9), (at(5), 3), (at(1), 7)];
    /// assert_eq!(evict.decide(others), LimitDecision::Admit { evict: vec![7, 3, 9] });
    /// ```
    pub fn decide<K: Ord>(&self, mut others: Vec<(Timestamp, K)>) -> LimitDecision<K> {
        let keep = self.max.max(1) as usize - 1;
        if others.len() <= keep {
            return LimitDecision::Admit { evict: Vec::new() };
        }
        match self.policy {
            LimitPolicy::Refuse => LimitDecision::Refuse,
            LimitPolicy::EvictLeastRecentlyUsed => {
                others.sort_unstable();
                let excess = others.len() - keep;
                others.truncate(excess);
                LimitDecision::Admit {
                    evict: others.into_iter().map(|(_, key)| key).collect(),
                }
            }
        }
    }
}
