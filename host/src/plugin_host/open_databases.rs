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

use lru::LruCache;

use crate::store::Database;
use crate::tenant::TenantName;

/// The idle handles, by tenant, in least-recently-used order.
pub(crate) struct OpenDatabases {
    tenants: LruCache<TenantName, Vec<Database>>,
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
        let db = handles.pop();
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
        handles.push(db);
        self.idle += 1;
        let mut closed = Vec::new();
        while self.idle > self.max {
            if self.idle > self.tenants.len()
                && let Some((_, handles)) = self.tenants.iter_mut().rev().find(|(_, h)| h.len() > 1)
                && let Some(surplus) = handles.pop()
            {
                self.idle -= 1;
                closed.push(surplus);
                continue;
            }
            let Some((_, handles)) = self.tenants.pop_lru() else {
                break;
            };
            self.idle -= handles.len();
            closed.extend(handles);
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
}
