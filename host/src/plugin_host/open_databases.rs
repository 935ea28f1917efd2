//! Idle tenant databases kept open between calls, least recently used tenant
//! closed first, at most a fixed number in all.
//!
//! A tenant may have several: calls for one tenant run at once, each on a
//! database handle of its own (a SQLite connection serves one call at a time), so
//! keeping only one per tenant would have all but one of them open the database
//! again. The `lru` crate orders the tenants; this counts the handles.
//!
//! Over the bound, a tenant's second and later handles are closed before any
//! tenant's last one: `max` tenants stay open however their calls overlapped,
//! so a round-robin over up to `max` tenants never reopens a database (closing
//! whole tenants there would close the very tenants called next, over and over).
//!
//! Each handle remembers when it was put back, so that handles idle longer
//! than a period can be closed ([`OpenDatabases::close_idle_since`]): a
//! server's descriptors and memory then follow the tenants that are active.

use std::time::Instant;

use lru::LruCache;

use crate::store::Database;
use crate::tenant::TenantName;

/// The idle handles, by tenant, in least-recently-used order, each with the
/// time it was put back.
pub(crate) struct OpenDatabases {
    tenants: LruCache<TenantName, Vec<(Database, Instant)>>,
    idle: usize,
    max: usize,
}

impl OpenDatabases {
    /// Keeps at most `max` (at least 1) idle handles in all.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            tenants: LruCache::unbounded(),
            idle: 0,
            max: max.max(1),
        }
    }

    /// The most idle handles kept.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// How many idle handles are kept.
    pub(crate) fn len(&self) -> usize {
        self.idle
    }

    /// One of `tenant`'s idle handles, if it has one.
    pub(crate) fn take(&mut self, tenant: &TenantName) -> Option<Database> {
        let handles = self.tenants.get_mut(tenant)?;
        let db = handles.pop().map(|(db, _)| db);
        if handles.is_empty() {
            self.tenants.pop(tenant);
        }
        if db.is_some() {
            self.idle -= 1;
        }
        db
    }

    /// Keeps `db` for `tenant`; returns what must be closed to stay within the
    /// bound (surplus handles of the least recently used tenants that have
    /// several, then whole least-recently-used tenants), for the caller to drop
    /// outside its lock.
    pub(crate) fn put(&mut self, tenant: &TenantName, db: Database) -> Vec<Database> {
        let handles = self.tenants.get_or_insert_mut(tenant.clone(), Vec::new);
        if handles.len() >= self.max {
            return vec![db];
        }
        handles.push((db, Instant::now()));
        self.idle += 1;
        let mut closed = Vec::new();
        while self.idle > self.max {
            if self.idle > self.tenants.len()
                && let Some((_, handles)) = self.tenants.iter_mut().rev().find(|(_, h)| h.len() > 1)
                && let Some(surplus) = handles.pop()
            {
                self.idle -= 1;
                closed.push(surplus.0);
                continue;
            }
            let Some((_, handles)) = self.tenants.pop_lru() else {
                break;
            };
            self.idle -= handles.len();
            closed.extend(handles.into_iter().map(|(db, _)| db));
        }
        closed
    }

    /// Removes the handles put back before `cutoff` (idle since), for the
    /// caller to close outside its lock.
    pub(crate) fn close_idle_since(&mut self, cutoff: Instant) -> Vec<Database> {
        let mut closed = Vec::new();
        let mut emptied = Vec::new();
        for (tenant, handles) in self.tenants.iter_mut() {
            let before = handles.len();
            let (idle, kept) = std::mem::take(handles)
                .into_iter()
                .partition::<Vec<_>, _>(|(_, since)| *since < cutoff);
            *handles = kept;
            if idle.is_empty() {
                continue;
            }
            self.idle -= before - handles.len();
            closed.extend(idle.into_iter().map(|(db, _)| db));
            if handles.is_empty() {
                emptied.push(tenant.clone());
            }
        }
        for tenant in emptied {
            self.tenants.pop(&tenant);
        }
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surplus_handles_go_first_then_whole_tenants_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = |n: usize| Database::open(dir.path().join(format!("{n}.db"))).unwrap();
        let name = |n: &str| TenantName::new(n).unwrap();
        let mut open = OpenDatabases::new(3);
        assert!(open.put(&name("a"), db(1)).is_empty());
        assert!(open.put(&name("a"), db(2)).is_empty());
        assert!(open.put(&name("b"), db(3)).is_empty());
        assert_eq!(open.len(), 3);
        let closed = open.put(&name("c"), db(4));
        assert_eq!(closed.len(), 1, "a's second handle, not a whole tenant");
        assert_eq!(open.len(), 3);
        let closed = open.put(&name("d"), db(5));
        assert_eq!(closed.len(), 1, "a, least recently used, is closed");
        assert!(open.take(&name("a")).is_none());
        for tenant in ["b", "c", "d"] {
            assert!(open.take(&name(tenant)).is_some(), "{tenant}");
            assert!(open.take(&name(tenant)).is_none(), "{tenant}");
        }
        assert_eq!(open.len(), 0);
        // One tenant never keeps more than the bound.
        let mut one = OpenDatabases::new(1);
        assert!(one.put(&name("a"), db(5)).is_empty());
        assert_eq!(one.put(&name("a"), db(6)).len(), 1);
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn handles_idle_since_the_cutoff_are_closed_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = |n: usize| Database::open(dir.path().join(format!("{n}.db"))).unwrap();
        let name = |n: &str| TenantName::new(n).unwrap();
        let mut open = OpenDatabases::new(10);
        assert!(open.put(&name("a"), db(1)).is_empty());
        assert!(open.put(&name("b"), db(2)).is_empty());
        std::thread::sleep(std::time::Duration::from_millis(2));
        let cutoff = Instant::now();
        assert!(open.put(&name("b"), db(3)).is_empty());
        assert!(open.put(&name("c"), db(4)).is_empty());
        assert_eq!(open.close_idle_since(cutoff).len(), 2, "a's and b's first");
        assert_eq!(open.len(), 2);
        assert!(open.take(&name("a")).is_none(), "a had only an idle handle");
        assert!(open.take(&name("b")).is_some(), "b's newer handle is kept");
        assert!(open.take(&name("b")).is_none());
        assert!(open.take(&name("c")).is_some());
        assert_eq!(open.len(), 0);
        assert!(open.close_idle_since(Instant::now()).is_empty());
    }
}
