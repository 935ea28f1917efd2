//! Each tenant's share of the call slots: at most `--max-concurrent-per-tenant`
//! of one tenant's calls run (or wait for a thread) at once, so a tenant whose
//! calls sleep, spin to their limit or wait for its own lock cannot take every
//! slot of `--max-concurrent`; over its share it is told to retry (503) and the
//! other tenants go on.
//!
//! One map of counts behind a mutex, entries removed at zero, so the map holds
//! only tenants with calls in flight, whatever the number of tenants.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use records_host::TenantName;

/// The calls in flight per tenant, and the bound.
#[derive(Debug)]
pub(crate) struct TenantShares {
    per_tenant: usize,
    in_flight: Mutex<HashMap<TenantName, usize>>,
}

/// One call's place in its tenant's share; given back on drop.
#[derive(Debug)]
pub(crate) struct Share {
    shares: Arc<TenantShares>,
    tenant: TenantName,
}

impl TenantShares {
    /// At most `per_tenant` calls (at least 1) of one tenant at once.
    pub(crate) fn new(per_tenant: usize) -> Arc<Self> {
        Arc::new(Self {
            per_tenant: per_tenant.max(1),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// The bound.
    pub(crate) fn per_tenant(&self) -> usize {
        self.per_tenant
    }

    /// A place for one more call of `tenant`, or `None` when its share is taken.
    pub(crate) fn try_take(self: &Arc<Self>, tenant: &TenantName) -> Option<Share> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        match in_flight.get_mut(tenant) {
            Some(count) if *count >= self.per_tenant => return None,
            Some(count) => *count += 1,
            None => {
                in_flight.insert(tenant.clone(), 1);
            }
        }
        Some(Share {
            shares: self.clone(),
            tenant: tenant.clone(),
        })
    }

    #[cfg(test)]
    fn tenants(&self) -> usize {
        self.in_flight.lock().map_or(0, |map| map.len())
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut in_flight = self
            .shares
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = in_flight.get_mut(&self.tenant) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> TenantName {
        TenantName::new(name).unwrap()
    }

    #[test]
    fn a_tenant_over_its_share_is_refused_and_others_are_not() {
        let shares = TenantShares::new(2);
        let a1 = shares.try_take(&tenant("a")).unwrap();
        let _a2 = shares.try_take(&tenant("a")).unwrap();
        assert!(shares.try_take(&tenant("a")).is_none());
        let _b = shares.try_take(&tenant("b")).unwrap();
        drop(a1);
        assert!(shares.try_take(&tenant("a")).is_some());
    }

    #[test]
    fn tenants_without_calls_in_flight_leave_no_entry() {
        let shares = TenantShares::new(1);
        let taken: Vec<Share> = (0..100)
            .map(|i| shares.try_take(&tenant(&format!("t{i}"))).unwrap())
            .collect();
        assert_eq!(shares.tenants(), 100);
        drop(taken);
        assert_eq!(shares.tenants(), 0);
    }
}
