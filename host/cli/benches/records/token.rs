//! The floor of 8 writers taking turns: processes that pass a token round a
//! ring of FIFOs (`token0` .. `token7` beside the database), each inserting
//! one row per turn with the same SQLite settings as the native writers. No
//! lock file, no backoff, no holder record: a turn costs a pipe write, a
//! wake-up on another core and SQLite's own commit, so 8 processes through
//! records-host's lock can be compared with the cost of alternating writers
//! at all.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Makes the ring's FIFOs in `dir`, one per process.
pub(crate) fn make_ring(dir: &Path, processes: usize) -> Result<()> {
    for w in 0..processes {
        let path = fifo(dir, w);
        let _ = std::fs::remove_file(&path);
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
        // SAFETY: mkfifo reads a valid NUL-terminated path.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
            bail!(
                "mkfifo {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

fn fifo(dir: &Path, w: usize) -> PathBuf {
    dir.join(format!("token{w}"))
}

/// One process's place in the ring.
pub(crate) struct Turns {
    conn: rusqlite::Connection,
    /// Where its token arrives (its own FIFO) and where it passes it on.
    mine: File,
    next: File,
    /// Process 0 holds the token first.
    holding: bool,
}

impl Turns {
    /// Process `index` of `processes`, writing over `conn` the database at
    /// `db` (opened with the native writers' settings).
    pub(crate) fn join(
        conn: rusqlite::Connection,
        db: &Path,
        index: usize,
        processes: usize,
    ) -> Result<Self> {
        let dir = db.parent().context("parent")?;
        // Read-write opens of a FIFO do not wait for the other end (Linux).
        let open = |w| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(fifo(dir, w))
                .with_context(|| format!("FIFO {w}"))
        };
        Ok(Self {
            conn,
            mine: open(index)?,
            next: open((index + 1) % processes)?,
            holding: index == 0,
        })
    }

    /// Waits for the token, inserts row `i`, passes the token on.
    pub(crate) fn take(&mut self, i: usize) -> Result<bool> {
        if !self.holding {
            let mut token = [0u8; 1];
            self.mine.read_exact(&mut token)?;
        }
        self.holding = false;
        self.conn
            .prepare_cached("INSERT INTO records (name, value) VALUES (?1, ?2)")?
            .execute(rusqlite::params!["token", i as i64])?;
        self.next.write_all(b"t")?;
        Ok(true)
    }
}
