//! The in-memory replay store: a mutex-guarded map from id to expiry, bounded by a
//! capacity. When full, expired entries are swept; if every entry is still live, the
//! new id is refused ([`StoreError::Full`]) rather than an old one forgotten, since
//! forgetting a live entry would let its token be replayed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::{Clock, UnixTime};
use crate::store::{ReplayStore, StoreError, StoreFuture};

/// Default number of live ids kept.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// A bounded in-process replay store. Entries vanish when the process restarts.
pub struct MemoryStore {
    /// The ids and the time after which each may be forgotten, plus the earliest of
    /// those times (a sweep before then would find nothing to remove).
    state: Mutex<State>,
    /// Most live ids kept.
    capacity: usize,
    /// Decides which entries expired (only read when the map is full).
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct State {
    /// id → expiry.
    entries: HashMap<String, UnixTime>,
    /// The smallest expiry in `entries` (or a lower bound of it).
    earliest: Option<UnixTime>,
}

impl MemoryStore {
    /// A store holding at most `capacity` live ids.
    pub fn new(capacity: usize, clock: Arc<dyn Clock>) -> Self {
        MemoryStore {
            state: Mutex::new(State::default()),
            capacity,
            clock,
        }
    }

    /// How many ids are held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .map(|state| state.entries.len())
            .unwrap_or(0)
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn record(&self, id: &str, expires_at: UnixTime) -> Result<bool, StoreError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store lock poisoned".into()))?;
        if state.entries.contains_key(id) {
            return Ok(false);
        }
        if state.entries.len() >= self.capacity {
            let now = self.clock.now();
            if state.earliest.is_some_and(|earliest| earliest < now) {
                state.entries.retain(|_, expiry| *expiry >= now);
                state.earliest = state.entries.values().min().copied();
            }
            if state.entries.len() >= self.capacity {
                return Err(StoreError::Full);
            }
        }
        state.entries.insert(id.to_owned(), expires_at);
        state.earliest = Some(state.earliest.map_or(expires_at, |e| e.min(expires_at)));
        Ok(true)
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl ReplayStore for MemoryStore {
    fn check_and_record<'a>(&'a self, id: &'a str, expires_at: UnixTime) -> StoreFuture<'a> {
        let result = self.record(id, expires_at);
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    fn store(capacity: usize, now: u64) -> MemoryStore {
        MemoryStore::new(capacity, Arc::new(FixedClock(UnixTime(now))))
    }

    #[tokio::test]
    async fn first_use_wins_and_replays_lose() {
        let store = store(10, 100);
        assert_eq!(store.check_and_record("a", UnixTime(200)).await, Ok(true));
        assert_eq!(store.check_and_record("a", UnixTime(200)).await, Ok(false));
        assert_eq!(store.check_and_record("b", UnixTime(200)).await, Ok(true));
    }

    #[tokio::test]
    async fn full_of_live_entries_refuses_new_ids_and_keeps_old_ones() {
        let store = store(2, 100);
        assert_eq!(store.check_and_record("a", UnixTime(200)).await, Ok(true));
        assert_eq!(store.check_and_record("b", UnixTime(200)).await, Ok(true));
        assert_eq!(
            store.check_and_record("c", UnixTime(200)).await,
            Err(StoreError::Full)
        );
        // The live entries were not forgotten.
        assert_eq!(store.check_and_record("a", UnixTime(200)).await, Ok(false));
    }

    #[tokio::test]
    async fn expired_entries_make_room() {
        let store = store(2, 100);
        assert_eq!(store.check_and_record("old", UnixTime(99)).await, Ok(true));
        assert_eq!(
            store.check_and_record("live", UnixTime(200)).await,
            Ok(true)
        );
        assert_eq!(store.check_and_record("new", UnixTime(200)).await, Ok(true));
        assert_eq!(store.len(), 2);
        assert_eq!(
            store.check_and_record("live", UnixTime(200)).await,
            Ok(false)
        );
    }

    #[test]
    fn concurrent_uses_allow_exactly_one() {
        let store = Arc::new(store(100, 100));
        let handles: Vec<_> = (0..64)
            .map(|_| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || store.record("same", UnixTime(200)))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| **r == Ok(true)).count(), 1);
        assert_eq!(results.iter().filter(|r| **r == Ok(false)).count(), 63);
    }
}
