//! The memory store's records, split over a few hash tables by key.
//!
//! One table of a million sessions grows by doubling: for a moment the old table and the new
//! one twice its size are both allocated, and that moment sets the process's peak memory
//! (461 MB against 384 MB resident after a fill of 1M sessions, 77 bytes per session more;
//! BENCHMARKS.md, "Scale"). Split into [`SHARDS`] tables, each doubles on its own, so the
//! transient is one table's, a sixteenth. A lookup adds only the shard index, a key byte.

use std::collections::HashMap;

use super::entry::{Digest, Entry};
use super::KeyHashing;

/// How many tables the records are split over: enough that one table's doubling is a small
/// part of the whole, few enough that an empty store stays small (an empty table allocates
/// nothing).
const SHARDS: usize = 16;

/// The records by store key.
#[derive(Debug, Default)]
pub(super) struct Records {
    shards: [HashMap<Digest, Entry, KeyHashing>; SHARDS],
}

impl Records {
    /// The table holding `key`. Keys are SHA-256 digests, so any of their bytes is uniform; the
    /// tables' own hashing is seeded, so sharing a byte with it places nothing predictably.
    fn shard(&self, key: &Digest) -> &HashMap<Digest, Entry, KeyHashing> {
        &self.shards[usize::from(key[0]) % SHARDS]
    }

    fn shard_mut(&mut self, key: &Digest) -> &mut HashMap<Digest, Entry, KeyHashing> {
        &mut self.shards[usize::from(key[0]) % SHARDS]
    }

    pub(super) fn get(&self, key: &Digest) -> Option<&Entry> {
        self.shard(key).get(key)
    }

    pub(super) fn get_mut(&mut self, key: &Digest) -> Option<&mut Entry> {
        self.shard_mut(key).get_mut(key)
    }

    pub(super) fn insert(&mut self, key: Digest, entry: Entry) -> Option<Entry> {
        self.shard_mut(&key).insert(key, entry)
    }

    pub(super) fn remove(&mut self, key: &Digest) -> Option<Entry> {
        self.shard_mut(key).remove(key)
    }

    /// How many records are held.
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// Every key, in no order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &Digest> {
        self.shards.iter().flat_map(HashMap::keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;
    use crate::time::Timestamp;

    fn entry(millis: i64) -> Entry {
        let at = Timestamp::from_millis(millis);
        Entry::from_record(Record::new(at, at, at))
    }

    #[test]
    fn keys_in_every_shard_are_found_counted_and_removed() {
        let mut records = Records::default();
        let keys: Vec<Digest> = (0..=255u8).map(|first| [first; 32]).collect();
        for (index, key) in keys.iter().enumerate() {
            assert!(records.insert(*key, entry(index as i64)).is_none());
        }
        assert_eq!(records.len(), 256);
        assert!(records
            .shards
            .iter()
            .all(|shard| shard.len() == 256 / SHARDS));
        let mut listed: Vec<Digest> = records.keys().copied().collect();
        listed.sort_unstable();
        assert_eq!(listed, keys);
        for (index, key) in keys.iter().enumerate() {
            let expected = Timestamp::from_millis(index as i64);
            assert_eq!(records.get(key).map(Entry::expires_at), Some(expected));
            assert!(records.get_mut(key).is_some());
        }
        for key in &keys[..100] {
            assert!(records.remove(key).is_some());
            assert!(records.get(key).is_none());
        }
        assert_eq!(records.len(), 156);
    }
}
