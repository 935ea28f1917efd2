//! Reading the tokens file at start-up and on every SIGHUP.
//!
//! Whoever can write the tokens file can add a hash and reach every tenant, so it
//! is read only when it is a regular file, not reached through a symbolic link in
//! its last component, owned by the server's user and not writable by group or
//! others, and at most 16 MiB (`records_host::trusted_file`); a FIFO, a device or
//! a huge file at its path cannot block or grow the server. The read runs off the
//! async runtime and within a time bound, so a file system that hangs cannot
//! freeze HTTP, `/healthz` or SIGTERM.
//!
//! At start-up a file that fails those rules stops the server. On SIGHUP it leaves
//! the tokens in use as they were, with an error in the log and in `/metrics`;
//! a file that passes replaces them: every valid line applies (so a removed line
//! always revokes its token) and every malformed line is reported by number.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, anyhow};
use records_host::trusted_file::read_trusted;
use tokio::signal::unix::{SignalKind, signal};

use super::metrics::Metrics;
use super::tokens::{Parsed, Tokens};

/// The largest tokens file read: some 200,000 tenants' lines.
const MAX_TOKENS_FILE: u64 = 16 << 20;

/// How long one read of the tokens file may take.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads and parses the tokens file on a thread of its own, waiting for it at
/// most the time bound (a read stuck in the file system is left behind, and the
/// caller goes on). Blocking: from async code, call it in `spawn_blocking`.
fn read_bounded(path: &Path) -> anyhow::Result<Parsed> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let owned = path.to_path_buf();
    std::thread::Builder::new()
        .name("tokens-file".into())
        .spawn(move || {
            let read = read_trusted(&owned, MAX_TOKENS_FILE)
                .context("the tokens file")
                .map(|bytes| Tokens::parse(&String::from_utf8_lossy(&bytes)));
            let _ = sender.send(read);
        })
        .context("cannot start a thread to read the tokens file")?;
    receiver.recv_timeout(READ_TIMEOUT).map_err(|_| {
        anyhow!(
            "the tokens file {} did not answer within {} s",
            path.display(),
            READ_TIMEOUT.as_secs()
        )
    })?
}

/// Logs the malformed lines of a file just read, and counts them in `metrics`.
fn report(path: &Path, parsed: &Parsed, metrics: &Metrics) {
    log_malformed(path, parsed);
    metrics.tokens_loaded(parsed.tokens.len(), parsed.malformed.len());
}

/// Logs the malformed lines of a file just read.
fn log_malformed(path: &Path, parsed: &Parsed) {
    for line in &parsed.malformed {
        tracing::error!(
            file = %path.display(),
            line,
            "tokens file: malformed line skipped (expected `<tenant> <sha256 hex of the token>`)"
        );
    }
}

/// The tokens at start-up, and the numbers of the malformed lines (logged).
///
/// # Errors
/// When the file is not trusted, cannot be read, or does not answer in time.
pub(crate) fn load_at_start(path: &Path) -> anyhow::Result<Parsed> {
    let parsed = read_bounded(path)?;
    log_malformed(path, &parsed);
    Ok(parsed)
}

/// Re-reads the tokens file on every SIGHUP, off the async runtime and within
/// the time bound; keeps the tokens in use when the new file is not taken.
pub(crate) async fn reload_on_sighup(
    path: PathBuf,
    tokens: Arc<RwLock<Tokens>>,
    metrics: Arc<Metrics>,
) {
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        let owned = path.clone();
        let outcome = tokio::task::spawn_blocking(move || read_bounded(&owned))
            .await
            .unwrap_or_else(|e| Err(anyhow!("reading the tokens file failed: {e}")));
        match outcome {
            Ok(parsed) => {
                report(&path, &parsed, &metrics);
                let count = parsed.tokens.len();
                if let Ok(mut current) = tokens.write() {
                    *current = parsed.tokens;
                }
                // Said once it is true: the new tokens are in use.
                tracing::info!(
                    tokens = count,
                    malformed = parsed.malformed.len(),
                    "SIGHUP: tokens reloaded"
                );
            }
            Err(e) => {
                metrics.tokens_reload_failed();
                tracing::error!("SIGHUP: tokens not reloaded, keeping the ones in use: {e:#}");
            }
        }
    }
}
