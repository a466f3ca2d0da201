//! Principals and user profiles read from the database in the last moment,
//! so that a client's burst of requests costs one session check and one
//! profile read, not one of each per request.
//!
//! How long a cached principal may be trusted is what bounds a revocation:
//! - on the instance that revokes (logout, password change, reuse of a
//!   rotated refresh token, account deletion, API-key revocation, a role
//!   change), the change calls [`PrincipalCache::forget_all`] once it has
//!   committed (`Store::forget_principals`), so the very next request is
//!   checked against the database;
//! - every other instance sharing the database is told to forget too (a
//!   PostgreSQL `NOTIFY`, sent before the revoking request answers), and
//!   whatever that message misses (a listener reconnecting, a change made
//!   by another process such as `charter create-admin`) an entry is
//!   trusted for at most [`TRUST_FOR`] after the query that filled it
//!   began, so a change takes effect everywhere within that time.
//!
//! Profiles (`U`, the users module's row) follow the same rule: a change to
//! an account calls `forget_all` after its commit, so this instance serves
//! the new profile at once and every other within [`TRUST_FOR`]. Only reads
//! that show a profile use them; a write checks its preconditions (`If-Match`)
//! against the database.
//!
//! A lookup reads the generation before its query and stores the result
//! only if no `forget_all` happened meanwhile: a query that raced with a
//! revocation never refills the cache with what the revocation ended.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::auth::Role;

/// Longest a cached principal is trusted, counted from the start of the
/// database check that produced it.
pub const TRUST_FOR: Duration = Duration::from_millis(500);

/// Entries kept per kind; beyond it stale ones are dropped, then all.
const CAPACITY: usize = 65_536;

/// What a live session's access token stands for.
#[derive(Clone, Copy, Debug)]
pub struct SessionPrincipal {
    pub user_seq: i64,
    pub role: Role,
}

/// Sessions, API keys as `A` (what the API-key module makes of one) and
/// user profiles as `U`.
pub struct PrincipalCache<A, U> {
    generation: AtomicU64,
    /// By (user, session).
    sessions: Table<(Uuid, Uuid), SessionPrincipal>,
    /// By the digest of the key's secret.
    api_keys: Table<Vec<u8>, A>,
    /// By user id.
    users: Table<Uuid, U>,
}

impl<A, U> Default for PrincipalCache<A, U> {
    fn default() -> Self {
        PrincipalCache {
            generation: AtomicU64::new(0),
            sessions: Table::default(),
            api_keys: Table::default(),
            users: Table::default(),
        }
    }
}

/// A database check under way: what it may store when it succeeds.
#[derive(Clone, Copy)]
pub struct Check {
    generation: u64,
    started: Instant,
}

impl<A: Clone, U: Clone> PrincipalCache<A, U> {
    /// Call before querying the database for a principal.
    pub fn start_check(&self) -> Check {
        Check {
            generation: self.generation.load(Ordering::SeqCst),
            started: Instant::now(),
        }
    }

    pub fn session(&self, user: Uuid, session: Uuid) -> Option<SessionPrincipal> {
        self.sessions.get(&(user, session), self.current())
    }

    pub fn store_session(&self, check: Check, user: Uuid, session: Uuid, found: SessionPrincipal) {
        self.sessions
            .insert((user, session), found, check, self.current());
    }

    pub fn api_key(&self, digest: &[u8]) -> Option<A> {
        self.api_keys.get(digest, self.current())
    }

    pub fn store_api_key(&self, check: Check, digest: Vec<u8>, found: A) {
        self.api_keys.insert(digest, found, check, self.current());
    }

    pub fn user(&self, id: Uuid) -> Option<U> {
        self.users.get(&id, self.current())
    }

    pub fn store_user(&self, check: Check, id: Uuid, found: U) {
        self.users.insert(id, found, check, self.current());
    }

    /// Nothing cached before now is trusted again: call after committing a
    /// change that ends a session or key or changes an account.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.sessions.clear();
        self.api_keys.clear();
        self.users.clear();
    }

    fn current(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

struct Entry<V> {
    value: V,
    generation: u64,
    trusted_until: Instant,
}

struct Table<K, V>(Mutex<HashMap<K, Entry<V>>>);

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table(Mutex::new(HashMap::new()))
    }
}

impl<K: Hash + Eq, V: Clone> Table<K, V> {
    fn lock(&self) -> MutexGuard<'_, HashMap<K, Entry<V>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get<Q>(&self, key: &Q, generation: u64) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.lock();
        let entry = entries.get(key)?;
        (entry.generation == generation && Instant::now() < entry.trusted_until)
            .then(|| entry.value.clone())
    }

    fn insert(&self, key: K, value: V, check: Check, generation: u64) {
        if check.generation != generation {
            return;
        }
        let trusted_until = check.started + TRUST_FOR;
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            let now = Instant::now();
            entries.retain(|_, entry| entry.generation == generation && now < entry.trusted_until);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                value,
                generation,
                trusted_until,
            },
        );
    }

    fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> SessionPrincipal {
        SessionPrincipal {
            user_seq: 1,
            role: Role::User,
        }
    }

    #[test]
    fn a_checked_principal_is_trusted_for_a_moment_only() {
        let cache = PrincipalCache::<(), ()>::default();
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let check = cache.start_check();
        cache.store_session(check, user, session, principal());
        assert!(cache.session(user, session).is_some());
        assert!(cache.session(user, Uuid::new_v4()).is_none());
        std::thread::sleep(TRUST_FOR);
        assert!(cache.session(user, session).is_none(), "expired");
    }

    #[test]
    fn forgetting_drops_entries_and_checks_that_raced_with_it() {
        let cache = PrincipalCache::<(), ()>::default();
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        cache.store_session(cache.start_check(), user, session, principal());
        let racing = cache.start_check();
        cache.forget_all();
        assert!(cache.session(user, session).is_none());
        // A check that began before the revocation stores nothing.
        cache.store_session(racing, user, session, principal());
        assert!(cache.session(user, session).is_none());
        cache.store_session(cache.start_check(), user, session, principal());
        assert!(cache.session(user, session).is_some());
    }
}
