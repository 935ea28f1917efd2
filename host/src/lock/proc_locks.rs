//! Which processes hold a lock on a file right now, as the kernel lists them.
//!
//! A lock file's holder record says who took the lock last, which is not always
//! who holds it: a process that is not records-host writes no record, and a dead
//! holder's record stays. On Linux, `/proc/locks` lists every `flock`, POSIX and
//! open-file-description lock with the holder's pid and the file's device and
//! inode; elsewhere nothing is known ([`holders`] returns `None`). No crate parses
//! it, and it is a few lines.

use std::fs::File;

/// Which kind of lock to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockKind {
    /// `flock(2)`, which records-host's write lock uses.
    Flock,
    /// `fcntl(2)` record locks, POSIX or per open file description, which SQLite
    /// uses.
    Record,
}

/// A process holding a lock, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    /// The holder's pid in this process's pid namespace; `None` when the kernel
    /// shows none (a lock of an open file description, or a process outside this
    /// namespace).
    pub(crate) pid: Option<u32>,
    /// Whether the lock is exclusive (a write lock).
    pub(crate) exclusive: bool,
}

/// How many listings an empty answer takes.
#[cfg(target_os = "linux")]
const LISTINGS: usize = 5;

/// The granted locks of `kind` on `file`; `None` when this platform does not say.
pub(crate) fn holders(file: &File, kind: LockKind) -> Option<Vec<Holder>> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    holders_of(meta.dev(), meta.ino(), kind)
}

/// The granted locks of `kind` on the file with device `dev` and inode `ino`,
/// for a caller that must not open the file; `None` when this platform does not
/// say.
pub(crate) fn holders_of(dev: u64, ino: u64, kind: LockKind) -> Option<Vec<Holder>> {
    #[cfg(target_os = "linux")]
    {
        // The kernel builds `/proc/locks` a page per `read`, and locks listed
        // before this file's that come and go between two reads can make one
        // listing skip a lock held all along (23 listings in 2,000 under the churn
        // of the test below). A lock listed is certain; an empty answer is read
        // again before it is believed.
        for _ in 0..LISTINGS {
            let listing = std::fs::read_to_string("/proc/locks").ok()?;
            let found = parse(&listing, dev, ino, kind);
            if !found.is_empty() {
                return Some(found);
            }
        }
        Some(Vec::new())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (dev, ino, kind);
        None
    }
}

/// The processes holding an exclusive flock on a file of device `dev`, and the
/// inode of each such file (for finding a lock file that was unlinked while
/// held); `None` when this platform does not say. Two listings are read and
/// joined: one can skip a lock while others come and go (see [`holders_of`]).
#[cfg(target_os = "linux")]
pub(crate) fn exclusive_flocks_on(dev: u64) -> Option<Vec<(u32, u64)>> {
    let prefix = format!("{:02x}:{:02x}:", major(dev), minor(dev));
    let mut found = Vec::new();
    for _ in 0..2 {
        let listing = std::fs::read_to_string("/proc/locks").ok()?;
        for line in listing.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, "FLOCK", _, "WRITE", pid, file, ..] = fields.as_slice() else {
                continue;
            };
            let held = pid.parse::<u32>().ok().zip(
                file.strip_prefix(&prefix)
                    .and_then(|ino| ino.parse::<u64>().ok()),
            );
            if let Some(held) = held.filter(|(pid, _)| *pid > 0)
                && !found.contains(&held)
            {
                found.push(held);
            }
        }
    }
    Some(found)
}

/// The name of process `pid` (its `comm`), if this platform says.
pub(crate) fn process_name(pid: u32) -> Option<String> {
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(crate::display::escape_control(name.trim_end_matches('\n')))
}

/// The lines of `/proc/locks` for the file with this device and inode, such as
/// `3: FLOCK  ADVISORY  WRITE 4242 08:01:1835012 0 EOF`. Lines with `->` are
/// requests still waiting, not locks held.
#[cfg(any(target_os = "linux", test))]
fn parse(listing: &str, dev: u64, ino: u64, kind: LockKind) -> Vec<Holder> {
    let wanted = format!("{:02x}:{:02x}:{ino}", major(dev), minor(dev));
    listing
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, class, _, access, pid, file, ..] = fields.as_slice() else {
                return None;
            };
            let matches_kind = match kind {
                LockKind::Flock => *class == "FLOCK",
                LockKind::Record => matches!(*class, "POSIX" | "OFDLCK"),
            };
            (matches_kind && *file == wanted).then(|| Holder {
                pid: pid.parse::<u32>().ok().filter(|pid| *pid > 0),
                exclusive: *access == "WRITE",
            })
        })
        .collect()
}

/// The major device number, as glibc's `gnu_dev_major` computes it.
#[cfg(any(target_os = "linux", test))]
fn major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)
}

/// The minor device number, as glibc's `gnu_dev_minor` computes it.
#[cfg(any(target_os = "linux", test))]
fn minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)
}

/// Taken for writing by the tests that make locks come and go by the thousand,
/// and for reading by the tests that assert what a listing shows: the tests of
/// one binary run in parallel, and a listing read under another test's churn
/// can miss a lock held all along more often than five listings can make up for
/// (the test of listings under churn measures that with a churn of its own).
#[cfg(test)]
static LISTINGS_UNDER_TEST: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// For a test that asserts what a listing shows: no heavy churn meanwhile.
#[cfg(test)]
pub(crate) fn quiet_listings() -> std::sync::RwLockReadGuard<'static, ()> {
    LISTINGS_UNDER_TEST
        .read()
        .unwrap_or_else(|e| e.into_inner())
}

/// For a test that churns locks heavily: no listing asserted meanwhile.
#[cfg(test)]
pub(crate) fn heavy_churn() -> std::sync::RwLockWriteGuard<'static, ()> {
    LISTINGS_UNDER_TEST
        .write()
        .unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
1: POSIX  ADVISORY  WRITE 77 08:01:99 120 120
2: FLOCK  ADVISORY  WRITE 4242 08:01:1835012 0 EOF
2: -> FLOCK  ADVISORY  WRITE 5151 08:01:1835012 0 EOF
3: FLOCK  ADVISORY  WRITE 9 08:02:1835012 0 EOF
4: OFDLCK ADVISORY  READ -1 08:01:99 0 EOF
";

    #[test]
    fn the_listing_names_granted_locks_of_the_file_only() {
        let dev = (8 << 8) | 1;
        assert_eq!(
            parse(LISTING, dev, 1_835_012, LockKind::Flock),
            [Holder {
                pid: Some(4242),
                exclusive: true
            }],
            "the waiting request and the other device's lock are not holders"
        );
        assert_eq!(
            parse(LISTING, dev, 99, LockKind::Record),
            [
                Holder {
                    pid: Some(77),
                    exclusive: true
                },
                Holder {
                    pid: None,
                    exclusive: false
                }
            ]
        );
    }

    #[test]
    fn a_held_flock_is_listed_with_this_process_as_holder() {
        let _quiet = quiet_listings();
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        assert_eq!(holders(&file, LockKind::Flock), Some(vec![]));
        fs4::FileExt::try_lock(&file).unwrap();
        let listed = holders(&file, LockKind::Flock).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].pid, Some(std::process::id()));
        assert!(process_name(std::process::id()).is_some());
    }

    /// `/proc/locks` changes while it is read: a listing read in several
    /// `read` calls can skip a lock that was held all along, when locks listed
    /// before it come and go between the calls. Seen in a CI run, where a held
    /// lock's timeout message said "none now".
    #[cfg(target_os = "linux")]
    #[test]
    fn a_held_flock_is_listed_while_other_locks_come_and_go() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let _churning = heavy_churn();
        let dir = tempfile::tempdir().unwrap();
        let held = File::create(dir.path().join("held")).unwrap();
        fs4::FileExt::try_lock(&held).unwrap();
        let others: Vec<File> = (0..400)
            .map(|i| File::create(dir.path().join(format!("other{i}"))).unwrap())
            .collect();
        let stop = AtomicBool::new(false);
        let missed = std::thread::scope(|s| {
            for half in others.chunks(200) {
                let stop = &stop;
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        for file in half {
                            fs4::FileExt::try_lock(file).unwrap();
                        }
                        for file in half {
                            fs4::FileExt::unlock(file).unwrap();
                        }
                    }
                });
            }
            let missed = (0..2000)
                .filter(|_| holders(&held, LockKind::Flock).unwrap().is_empty())
                .count();
            stop.store(true, Ordering::Relaxed);
            missed
        });
        assert_eq!(
            missed, 0,
            "the held lock was missed in {missed} of 2000 listings"
        );
    }
}
