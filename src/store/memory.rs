//! The in-memory replay store: a mutex-guarded map from id to expiry, bounded by a
//! capacity. When full, expired entries are swept; if every entry is still live, the
//! new id is refused ([`StoreError::Full`]) rather than an old one forgotten, since
//! forgetting a live entry would let its token be replayed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::{Clock, UnixTime};
use crate::store::{ReplayStore, StoreError, StoreFuture, StoreId, StoreKind};

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
    /// "Issued before" cut-offs: id → (cut-off, expiry).
    cut_offs: HashMap<String, (UnixTime, UnixTime)>,
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

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store lock poisoned".into()))
    }

    /// When full, sweeps expired entries; still full of live ones is an error.
    fn make_room(&self, state: &mut State) -> Result<(), StoreError> {
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
        Ok(())
    }

    fn insert(state: &mut State, key: String, expires_at: UnixTime) {
        state.entries.insert(key, expires_at);
        state.earliest = Some(state.earliest.map_or(expires_at, |e| e.min(expires_at)));
    }

    fn record(&self, id: &StoreId<'_>, expires_at: UnixTime) -> Result<bool, StoreError> {
        let key = entry_key(id);
        let mut state = self.lock()?;
        if state.entries.contains_key(&key) {
            return Ok(false);
        }
        self.make_room(&mut state)?;
        Self::insert(&mut state, key, expires_at);
        Ok(true)
    }

    fn record_revocation(&self, id: &StoreId<'_>, until: UnixTime) -> Result<(), StoreError> {
        let key = entry_key(id);
        let mut state = self.lock()?;
        if let Some(existing) = state.entries.get_mut(&key) {
            *existing = (*existing).max(until);
            return Ok(());
        }
        self.make_room(&mut state)?;
        Self::insert(&mut state, key, until);
        Ok(())
    }

    fn record_cut_off(
        &self,
        id: &StoreId<'_>,
        before: UnixTime,
        until: UnixTime,
    ) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        let cut = state
            .cut_offs
            .entry(entry_key(id))
            .or_insert((before, until));
        cut.0 = cut.0.max(before);
        cut.1 = cut.1.max(until);
        // Cut-offs are few (one per key id or subject revoked); expired ones are
        // swept here rather than counted against the replay capacity.
        let now = self.clock.now();
        state.cut_offs.retain(|_, (_, until)| *until >= now);
        Ok(())
    }

    fn cut_off(&self, ids: &[StoreId<'_>]) -> Result<Option<UnixTime>, StoreError> {
        let now = self.clock.now();
        let state = self.lock()?;
        Ok(ids
            .iter()
            .filter_map(|id| state.cut_offs.get(&entry_key(id)))
            .filter(|(_, until)| *until >= now)
            .map(|(before, _)| *before)
            .max())
    }

    fn revoked(&self, id: &StoreId<'_>) -> Result<bool, StoreError> {
        let key = entry_key(id);
        let now = self.clock.now();
        let state = self.lock()?;
        Ok(state.entries.get(&key).is_some_and(|until| *until >= now))
    }
}

/// The map key of an entry: its namespace, then its encoding, so that use slots and
/// revocations, which share the map, never meet.
fn entry_key(id: &StoreId<'_>) -> String {
    format!("{}:{}", id.namespace().as_str(), id.encode())
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
    fn check_and_record<'a>(
        &'a self,
        id: &'a StoreId<'a>,
        expires_at: UnixTime,
    ) -> StoreFuture<'a> {
        let result = self.record(id, expires_at);
        Box::pin(std::future::ready(result))
    }

    fn revoke<'a>(&'a self, id: &'a StoreId<'a>, until: UnixTime) -> StoreFuture<'a, ()> {
        Box::pin(std::future::ready(self.record_revocation(id, until)))
    }

    fn is_revoked<'a>(&'a self, id: &'a StoreId<'a>) -> StoreFuture<'a> {
        Box::pin(std::future::ready(self.revoked(id)))
    }

    fn revoke_issued_before<'a>(
        &'a self,
        id: &'a StoreId<'a>,
        before: UnixTime,
        until: UnixTime,
    ) -> StoreFuture<'a, ()> {
        Box::pin(std::future::ready(self.record_cut_off(id, before, until)))
    }

    fn latest_cut_off<'a>(&'a self, ids: &'a [StoreId<'a>]) -> StoreFuture<'a, Option<UnixTime>> {
        Box::pin(std::future::ready(self.cut_off(ids)))
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(self.lock().map(|_| ())))
    }

    fn kind(&self) -> StoreKind {
        StoreKind::Memory
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    /// The first use slot of token `jti` of key `k1`.
    fn slot(jti: &str) -> StoreId<'_> {
        StoreId::UseSlot {
            kid: "k1",
            jti,
            slot: 1,
        }
    }

    fn store(capacity: usize, now: u64) -> MemoryStore {
        MemoryStore::new(capacity, Arc::new(FixedClock(UnixTime(now))))
    }

    #[tokio::test]
    async fn first_use_wins_and_replays_lose() {
        let store = store(10, 100);
        assert_eq!(
            store.check_and_record(&slot("a"), UnixTime(200)).await,
            Ok(true)
        );
        assert_eq!(
            store.check_and_record(&slot("a"), UnixTime(200)).await,
            Ok(false)
        );
        assert_eq!(
            store.check_and_record(&slot("b"), UnixTime(200)).await,
            Ok(true)
        );
    }

    #[tokio::test]
    async fn full_of_live_entries_refuses_new_ids_and_keeps_old_ones() {
        let store = store(2, 100);
        assert_eq!(
            store.check_and_record(&slot("a"), UnixTime(200)).await,
            Ok(true)
        );
        assert_eq!(
            store.check_and_record(&slot("b"), UnixTime(200)).await,
            Ok(true)
        );
        assert_eq!(
            store.check_and_record(&slot("c"), UnixTime(200)).await,
            Err(StoreError::Full)
        );
        // The live entries were not forgotten.
        assert_eq!(
            store.check_and_record(&slot("a"), UnixTime(200)).await,
            Ok(false)
        );
    }

    #[tokio::test]
    async fn expired_entries_make_room() {
        let store = store(2, 100);
        assert_eq!(
            store.check_and_record(&slot("old"), UnixTime(99)).await,
            Ok(true)
        );
        assert_eq!(
            store.check_and_record(&slot("live"), UnixTime(200)).await,
            Ok(true)
        );
        assert_eq!(
            store.check_and_record(&slot("new"), UnixTime(200)).await,
            Ok(true)
        );
        assert_eq!(store.len(), 2);
        assert_eq!(
            store.check_and_record(&slot("live"), UnixTime(200)).await,
            Ok(false)
        );
    }

    #[tokio::test]
    async fn revocations_hold_until_their_time_and_keep_the_later_one() {
        let store = store(10, 100);
        assert_eq!(
            store.is_revoked(&StoreId::RevokedSession("a")).await,
            Ok(false)
        );
        store
            .revoke(&StoreId::RevokedSession("a"), UnixTime(150))
            .await
            .unwrap();
        store
            .revoke(&StoreId::RevokedSession("a"), UnixTime(120))
            .await
            .unwrap();
        assert_eq!(
            store.is_revoked(&StoreId::RevokedSession("a")).await,
            Ok(true)
        );
        assert_eq!(
            store.is_revoked(&StoreId::RevokedSession("b")).await,
            Ok(false)
        );
        // A use slot never meets a revocation.
        assert_eq!(
            store.check_and_record(&slot("a"), UnixTime(150)).await,
            Ok(true)
        );
        let later = MemoryStore::new(10, Arc::new(FixedClock(UnixTime(151))));
        later
            .revoke(&StoreId::RevokedSession("a"), UnixTime(150))
            .await
            .unwrap();
        assert_eq!(
            later.is_revoked(&StoreId::RevokedSession("a")).await,
            Ok(false)
        );
    }

    #[tokio::test]
    async fn cut_offs_keep_the_later_time_and_expire() {
        let store = store(10, 100);
        let ids = [StoreId::KeyCutOff("k1"), StoreId::SubjectCutOff("alice")];
        assert_eq!(store.latest_cut_off(&ids).await, Ok(None));
        store
            .revoke_issued_before(&StoreId::KeyCutOff("k1"), UnixTime(90), UnixTime(200))
            .await
            .unwrap();
        store
            .revoke_issued_before(&StoreId::KeyCutOff("k1"), UnixTime(80), UnixTime(150))
            .await
            .unwrap();
        store
            .revoke_issued_before(
                &StoreId::SubjectCutOff("alice"),
                UnixTime(95),
                UnixTime(101),
            )
            .await
            .unwrap();
        assert_eq!(store.latest_cut_off(&ids).await, Ok(Some(UnixTime(95))));
        assert_eq!(
            store.latest_cut_off(&ids[..1]).await,
            Ok(Some(UnixTime(90)))
        );
        assert_eq!(store.ping().await, Ok(()));
    }

    #[test]
    fn concurrent_uses_allow_exactly_one() {
        let store = Arc::new(store(100, 100));
        let handles: Vec<_> = (0..64)
            .map(|_| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || store.record(&slot("same"), UnixTime(200)))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| **r == Ok(true)).count(), 1);
        assert_eq!(results.iter().filter(|r| **r == Ok(false)).count(), 63);
    }
}
