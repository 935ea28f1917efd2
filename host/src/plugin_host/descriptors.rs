//! How many idle tenant databases fit in the process's file descriptors.
//!
//! Every open SQLite tenant database holds [`DESCRIPTORS_PER_DATABASE`]
//! descriptors, so the number a host may keep open follows from the
//! descriptor limit: what is left of it after [`RESERVED_DESCRIPTORS`] for the
//! rest of the process, divided among the databases, less the databases of
//! the calls that run at once (each holds its tenant's, idle or not).

/// Descriptors one open SQLite tenant database holds: `records.db`, its `-wal`
/// and `-shm`, and `db.lock` (the lock's handoff page, `db.lock.shm`, is
/// mapped and its descriptor closed).
pub const DESCRIPTORS_PER_DATABASE: u64 = 4;

/// Descriptors set aside for everything but tenant databases: standard
/// streams, the engine's and the runtime's own, the compiled-plugin cache,
/// deployed versions' files, a compile worker's pipes, logs.
pub const RESERVED_DESCRIPTORS: u64 = 256;

/// The idle databases `descriptors` leave room for while `calls` calls run:
/// `(descriptors - RESERVED_DESCRIPTORS) / DESCRIPTORS_PER_DATABASE - calls`,
/// at least 0.
pub fn keep_open_within(descriptors: u64, calls: u64) -> usize {
    let databases = descriptors.saturating_sub(RESERVED_DESCRIPTORS) / DESCRIPTORS_PER_DATABASE;
    usize::try_from(databases.saturating_sub(calls)).unwrap_or(usize::MAX)
}

/// The process's soft limit on open descriptors (`RLIMIT_NOFILE`); `None`
/// when it cannot be read, or is unlimited.
pub fn descriptor_limit() -> Option<u64> {
    nofile().ok().and_then(|limit| finite(limit.rlim_cur))
}

/// Raises the soft limit on open descriptors to the hard one; the soft limit
/// after (`None`: unlimited).
///
/// # Errors
/// The system's, when the limit cannot be read or set.
pub fn raise_descriptor_limit() -> std::io::Result<Option<u64>> {
    let mut limit = nofile()?;
    if limit.rlim_cur != limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(finite(limit.rlim_cur))
}

/// `RLIMIT_NOFILE`, soft and hard.
fn nofile() -> std::io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a valid, exclusively borrowed rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(limit)
}

/// A limit as a number, `None` for unlimited.
fn finite(limit: libc::rlim_t) -> Option<u64> {
    // rlim_t is u64 on Linux and i64 on the BSDs; not infinity, it is >= 0.
    #[allow(clippy::unnecessary_cast)]
    (limit != libc::RLIM_INFINITY).then_some(limit as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_and_the_running_calls_come_off_the_limit() {
        assert_eq!(keep_open_within(20_000, 64), (20_000 - 256) / 4 - 64);
        assert_eq!(keep_open_within(1024, 64), 192 - 64);
        assert_eq!(keep_open_within(256 + 4 * 10, 10), 0);
        assert_eq!(keep_open_within(100, 0), 0, "a limit under the reserve");
        assert!(descriptor_limit().is_some_and(|n| n >= 64));
        let raised = raise_descriptor_limit().unwrap();
        assert_eq!(
            raised,
            descriptor_limit(),
            "the soft limit, now the hard one"
        );
        assert_eq!(raised, finite(nofile().unwrap().rlim_max));
    }
}
