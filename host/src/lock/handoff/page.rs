//! The memory behind the handoff words: the first page of `db.lock.shm`, mapped
//! shared so that nothing done to that file can kill this process.
//!
//! A shared file mapping faults with `SIGBUS` when the file shrinks under it, and,
//! for a sparse file, when the disk is full at the first write to a page. The file
//! sits in a data directory that other local users may be able to write, and an
//! operator may truncate it, so:
//!
//! - its blocks are allocated for real (`posix_fallocate`) before it is mapped, so
//!   a full disk is an error at open (and the lock falls back to plain backoff),
//!   never a fault later;
//! - every such mapping lives in one address range reserved at first use, and a
//!   `SIGBUS` handler that finds the faulting address in that range maps a private
//!   zero page over it and returns: the access completes, the page is marked
//!   detached, and its lock uses plain backoff from then on. A fault anywhere else
//!   goes to the handler installed before (wasmtime's, or the default action).
//!
//! No crate maps a file that others may truncate without dying of it; the range
//! check is what makes the handler safe to install in a library.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::sync::locked;

/// How many shared pages one process can map at once; beyond that a lock works
/// with plain backoff. Each slot is one page of reserved address space.
const SLOTS: usize = 8192;

/// The bytes of the file that are allocated and used.
pub(crate) const FILE_LEN: usize = 4096;

/// The reserved range, for the signal handler: `[START, END)`.
static START: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);
static PAGE: AtomicUsize = AtomicUsize::new(0);

/// Set by the signal handler for a slot whose file shrank under it.
static DETACHED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];

/// The `SIGBUS` action in place before ours, to which other faults go.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// The reserved address range and which of its slots are free.
struct Arena {
    base: usize,
    page: usize,
    free: Mutex<Vec<u16>>,
}

/// One mapped page of a shared-words file, in a slot of the arena. The file's
/// descriptor is closed once the page is mapped (the mapping keeps the file
/// itself), so an open tenant database holds no descriptor for it.
#[derive(Debug)]
pub(crate) struct SharedPage {
    ptr: NonNull<u8>,
    slot: usize,
}

// SAFETY: the page is shared memory that this crate accesses only through
// atomics; the pointer stays valid until Drop re-reserves the slot.
unsafe impl Send for SharedPage {}
// SAFETY: as above.
unsafe impl Sync for SharedPage {}

impl SharedPage {
    /// Allocates the first [`FILE_LEN`] bytes of `file` for real, maps them,
    /// and closes `file`.
    ///
    /// # Errors
    /// When the blocks cannot be allocated (a full disk, a file size limit), no
    /// slot is free, or the mapping fails: the caller then does without.
    pub(crate) fn map(file: File) -> io::Result<Self> {
        let arena = arena().ok_or_else(|| io::Error::other("no address range reserved"))?;
        // SAFETY: allocating blocks of an open file; the result is checked.
        let allocated =
            unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, FILE_LEN as libc::off_t) };
        if allocated != 0 {
            return Err(io::Error::from_raw_os_error(allocated));
        }
        let slot = usize::from(
            locked(&arena.free)
                .pop()
                .ok_or_else(|| io::Error::other("every slot is in use"))?,
        );
        let addr = arena.base + slot * arena.page;
        // SAFETY: replacing exactly one reserved page of our own arena with the
        // file's first page; the file is at least FILE_LEN bytes (allocated above).
        let mapped = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                arena.page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_FIXED,
                file.as_raw_fd(),
                0,
            )
        };
        if mapped == libc::MAP_FAILED {
            let error = io::Error::last_os_error();
            arena.release(slot);
            return Err(error);
        }
        DETACHED[slot].store(false, Ordering::Release);
        drop(file);
        Ok(Self {
            ptr: NonNull::new(mapped.cast()).ok_or_else(|| io::Error::other("null mapping"))?,
            slot,
        })
    }

    /// The start of the page (page-aligned, at least [`FILE_LEN`] bytes).
    pub(crate) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Whether the file shrank under this mapping: the page is private zeroes now,
    /// shared with no other process.
    pub(crate) fn detached(&self) -> bool {
        DETACHED[self.slot].load(Ordering::Acquire)
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        if let Some(arena) = arena() {
            arena.release(self.slot);
        }
    }
}

impl Arena {
    /// Puts the reservation back over `slot` and frees it. The range stays
    /// reserved as a whole, so no other mapping lands in it and the handler never
    /// mistakes another mapping's fault for ours.
    fn release(&self, slot: usize) {
        let addr = self.base + slot * self.page;
        // SAFETY: re-reserving one page of our own arena.
        let reserved = unsafe { reserve(addr as *mut libc::c_void, self.page, libc::MAP_FIXED) };
        if reserved == libc::MAP_FAILED {
            // Leave the slot out of the free list rather than reuse a hole.
            tracing::error!("cannot re-reserve a shared lock page");
            return;
        }
        locked(&self.free).push(slot as u16);
    }
}

/// Maps `len` bytes of inaccessible, unbacked memory.
unsafe fn reserve(addr: *mut libc::c_void, len: usize, extra: libc::c_int) -> *mut libc::c_void {
    // SAFETY: the caller passes an address it owns (or null with no MAP_FIXED).
    unsafe {
        libc::mmap(
            addr,
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | extra,
            -1,
            0,
        )
    }
}

/// The arena, reserved and guarded at first use; `None` when that failed.
fn arena() -> Option<&'static Arena> {
    static ARENA: OnceLock<Option<Arena>> = OnceLock::new();
    ARENA
        .get_or_init(|| {
            // SAFETY: sysconf has no preconditions.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
            let len = page.checked_mul(SLOTS)?;
            // SAFETY: a fresh reservation anywhere.
            let base = unsafe { reserve(std::ptr::null_mut(), len, 0) };
            if base == libc::MAP_FAILED {
                return None;
            }
            let base = base as usize;
            PAGE.store(page, Ordering::Release);
            START.store(base, Ordering::Release);
            END.store(base + len, Ordering::Release);
            if !install_handler() {
                tracing::warn!("cannot install the SIGBUS guard; no fair lock handoff");
                return None;
            }
            Some(Arena {
                base,
                page,
                free: Mutex::new((0..SLOTS as u16).rev().collect()),
            })
        })
        .as_ref()
}

fn install_handler() -> bool {
    // SAFETY: an all-zero sigaction is valid; the fields are then set.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_sigbus as *const () as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
    // SAFETY: as above.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to initialized sigactions.
    unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGBUS, &action, &mut previous) != 0 {
            return false;
        }
    }
    let _ = PREVIOUS.set(previous);
    true
}

/// The `SIGBUS` handler. Async-signal-safe: atomics, `mmap` and the previous
/// handler only.
unsafe extern "C" fn on_sigbus(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let (start, end) = (START.load(Ordering::Acquire), END.load(Ordering::Acquire));
    if start <= addr && addr < end {
        let page = PAGE.load(Ordering::Acquire);
        let base = addr - (addr - start) % page;
        // SAFETY: replacing one page of our own arena with private zeroes, so the
        // faulting access, retried on return, succeeds.
        let replaced = unsafe {
            libc::mmap(
                base as *mut libc::c_void,
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if replaced != libc::MAP_FAILED {
            DETACHED[(base - start) / page].store(true, Ordering::Release);
            return;
        }
    }
    // SAFETY: forwarding the same arguments the kernel gave us.
    unsafe { delegate(signal, info, context) }
}

/// Hands a fault that is not ours to the action in place before ours.
unsafe fn delegate(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let previous = PREVIOUS.get();
    let handler = previous.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Returning re-runs the faulting instruction, which then meets the default
        // action (ignoring a synchronous SIGBUS would fault forever).
        // SAFETY: an all-zero sigaction with SIG_DFL is the default action.
        unsafe {
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &default, std::ptr::null_mut());
        }
        return;
    }
    let siginfo = previous.is_some_and(|p| p.sa_flags & libc::SA_SIGINFO != 0);
    // SAFETY: the previous action's handler, called the way it was registered.
    unsafe {
        if siginfo {
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(handler);
            handler(signal, info, context);
        } else {
            let handler: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
            handler(signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::AtomicU64;

    fn page_of(dir: &tempfile::TempDir) -> (std::path::PathBuf, SharedPage) {
        let path = dir.path().join("db.lock.shm");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap();
        (path, SharedPage::map(file).unwrap())
    }

    fn word(page: &SharedPage) -> &AtomicU64 {
        // SAFETY: the page is mapped, aligned and at least 8 bytes long.
        unsafe { page.ptr().cast::<AtomicU64>().as_ref() }
    }

    #[test]
    fn the_blocks_are_allocated_before_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _page) = page_of(&dir);
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!(meta.len(), FILE_LEN as u64);
        assert!(meta.blocks() * 512 >= FILE_LEN as u64, "not sparse");
    }

    #[test]
    fn a_truncated_file_detaches_the_page_instead_of_killing_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let (path, page) = page_of(&dir);
        let (_, other) = page_of(&dir);
        word(&page).store(42, Ordering::SeqCst);
        assert_eq!(word(&other).load(Ordering::SeqCst), 42, "shared");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        assert_eq!(word(&page).load(Ordering::SeqCst), 0, "a zero page now");
        assert!(page.detached());
        word(&page).store(7, Ordering::SeqCst);
        assert_eq!(word(&page).load(Ordering::SeqCst), 7, "private and usable");
        assert!(!other.detached(), "not touched yet");
        drop((page, other));
        let (_, fresh) = page_of(&dir);
        assert!(!fresh.detached(), "a slot is clean when reused");
    }
}
