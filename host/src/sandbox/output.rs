//! Where a plugin's stdout and stderr go: the host's stderr, line by line, each
//! line prefixed with the plugin's (and tenant's) name, and bounded in size
//! ([`PrefixedOutput`]); or, for a script run over HTTP, a buffer of bounded
//! size the caller reads afterwards ([`CapturedOutput`]).
//!
//! Writes always succeed from the guest's side, so a chatty or hostile plugin
//! neither fills the host's log nor traps on a full pipe. The budget counts what
//! the host writes, prefixes included; past it the rest is dropped and one line
//! says so.

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::sync::locked;

/// A line longer than this is emitted in pieces, so one endless line is bounded too.
const MAX_LINE: usize = 4096;

/// Where an output stream's bytes go.
pub(crate) trait Sink: Send + 'static {
    fn write(&mut self, bytes: &[u8]);
}

/// A plugin output stream over a sink; clones share the sink (and its budget).
pub(crate) struct Output<S> {
    sink: Arc<Mutex<S>>,
}

impl<S> Clone for Output<S> {
    fn clone(&self) -> Self {
        Self {
            sink: Arc::clone(&self.sink),
        }
    }
}

impl<S: Sink> Output<S> {
    fn write_bytes(&self, bytes: &[u8]) {
        locked(&self.sink).write(bytes);
    }
}

/// Output to the host's stderr, each line prefixed `[label]`.
pub(crate) type PrefixedOutput = Output<Prefixed>;

/// Output kept in memory, up to a budget.
pub(crate) type CapturedOutput = Output<Captured>;

/// A budget of bytes kept; what comes past it is dropped and marked.
pub(crate) struct Captured {
    bytes: Vec<u8>,
    budget: usize,
    truncated: bool,
}

impl Sink for Captured {
    fn write(&mut self, bytes: &[u8]) {
        let room = self.budget.saturating_sub(self.bytes.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.bytes
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl CapturedOutput {
    /// A buffer keeping at most `budget` bytes.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            sink: Arc::new(Mutex::new(Captured {
                bytes: Vec::new(),
                budget,
                truncated: false,
            })),
        }
    }

    /// What was kept, and whether more was dropped.
    pub(crate) fn take(&self) -> (Vec<u8>, bool) {
        let mut sink = locked(&self.sink);
        (std::mem::take(&mut sink.bytes), sink.truncated)
    }
}

/// The line buffer and budget of a [`PrefixedOutput`].
pub(crate) struct Prefixed {
    prefix: String,
    line: Vec<u8>,
    budget: usize,
    truncated: bool,
}

impl PrefixedOutput {
    /// Output labelled `[prefix]`, of which at most `budget` bytes are shown.
    pub(crate) fn new(prefix: String, budget: usize) -> Self {
        Self {
            sink: Arc::new(Mutex::new(Prefixed {
                prefix,
                line: Vec::new(),
                budget,
                truncated: false,
            })),
        }
    }
}

impl Sink for Prefixed {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.truncated {
                return;
            }
            self.line.push(byte);
            if byte == b'\n' || self.line.len() >= MAX_LINE {
                self.emit_line();
            }
        }
    }
}

impl Prefixed {
    fn emit_line(&mut self) {
        if self.line.is_empty() || self.truncated {
            return;
        }
        let line = std::mem::take(&mut self.line);
        let text = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line));
        let formatted = format!("[{}] {text}\n", self.prefix);
        if formatted.len() > self.budget {
            self.truncated = true;
            self.emit(&format!(
                "[{}] (more output dropped: the plugin's output limit was reached)\n",
                self.prefix
            ));
            return;
        }
        self.budget -= formatted.len();
        self.emit(&formatted);
    }

    fn emit(&self, text: &str) {
        // The host's stderr being closed is no reason to fail the plugin.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

impl Drop for Prefixed {
    fn drop(&mut self) {
        self.emit_line();
    }
}

impl<S> IsTerminal for Output<S> {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl<S: Sink> StdoutStream for Output<S> {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl<S: Sink> Pollable for Output<S> {
    async fn ready(&mut self) {}
}

impl<S: Sink> OutputStream for Output<S> {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl<S: Sink> tokio::io::AsyncWrite for Output<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
