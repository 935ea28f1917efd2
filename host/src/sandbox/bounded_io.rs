//! WASI's blocking I/O, bounded by the plugin call's deadline.
//!
//! Epoch interruption stops a guest only while it runs wasm; a guest blocked in
//! the host is not running wasm. In WASI preview 2 a guest blocks only in a handful
//! of functions: `wasi:io/poll`'s `poll` and `pollable.block` (which is how
//! `std::thread::sleep`, and every wait on a clock, a stream or a socket, ends up),
//! the `blocking-*` stream operations, and dropping a stream (which may wait for
//! its buffered output). This module links its own versions of exactly those two
//! interfaces over wasmtime-wasi's implementations: the non-blocking functions are
//! passed through unchanged, and each blocking one runs wasmtime-wasi's own
//! implementation under the call's deadline, and traps with
//! [`wasmtime::Trap::Interrupt`] (reported as the time limit) when the deadline
//! comes first. Every call thus ends within its limit plus one epoch tick, and the
//! calling thread is free again.
//!
//! The alternative, wasmtime's async support (every call on a fiber, under an
//! async timeout), made a `create-record` about 25% and a `get-record` about 20%
//! slower in this project's benchmarks (BENCHMARKS.md); bounding the few blocking
//! functions costs the other calls nothing.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::io::{poll as async_poll, streams as async_streams};
use wasmtime_wasi::p2::bindings::sync::io::poll::{self, Pollable};
use wasmtime_wasi::p2::bindings::sync::io::streams::{self, InputStream, OutputStream};
use wasmtime_wasi::p2::{StreamError, StreamResult};
use wasmtime_wasi::runtime::in_tokio;

/// A guest's WASI I/O resources and the deadline of the call in progress.
pub(crate) struct BoundedIo<'a> {
    table: &'a mut ResourceTable,
    deadline: Instant,
}

impl<'a> BoundedIo<'a> {
    pub(crate) fn new(table: &'a mut ResourceTable, deadline: Instant) -> Self {
        Self { table, deadline }
    }
}

struct HasBoundedIo;

impl HasData for HasBoundedIo {
    type Data<'a> = BoundedIo<'a>;
}

/// Replaces `wasi:io/poll` and `wasi:io/streams` in `linker` (which has all of
/// WASI linked already) with the bounded versions, over the view `io` gives of a
/// store's data.
///
/// # Errors
/// When the linker refuses the definitions.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    io: fn(&mut T) -> BoundedIo<'_>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    poll::add_to_linker::<T, HasBoundedIo>(linker, io)?;
    streams::add_to_linker::<T, HasBoundedIo>(linker, io)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Runs `blocking` to completion unless the deadline comes first. Most calls are
/// ready at once (a write to a pipe with room, a poll of a ready pollable), so the
/// deadline's timer is set only when the first poll finds it waiting.
fn until<T>(deadline: Instant, blocking: impl Future<Output = T>) -> Result<T, wasmtime::Error> {
    in_tokio(async {
        let mut blocking = pin!(blocking);
        let first = poll_fn(|cx| Poll::Ready(blocking.as_mut().poll(cx))).await;
        match first {
            Poll::Ready(value) => Ok(value),
            Poll::Pending => tokio::time::timeout_at(deadline.into(), blocking).await,
        }
    })
    .map_err(|_elapsed| wasmtime::Trap::Interrupt.into())
}

/// As [`until`], for the stream operations, whose traps travel in `StreamError`.
fn stream_until<T>(
    deadline: Instant,
    blocking: impl Future<Output = StreamResult<T>>,
) -> StreamResult<T> {
    until(deadline, blocking).map_err(StreamError::Trap)?
}

impl poll::Host for BoundedIo<'_> {
    fn poll(&mut self, pollables: Vec<Resource<Pollable>>) -> wasmtime::Result<Vec<u32>> {
        until(self.deadline, async_poll::Host::poll(self.table, pollables))?
    }
}

impl poll::HostPollable for BoundedIo<'_> {
    fn ready(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<bool> {
        until(
            self.deadline,
            async_poll::HostPollable::ready(self.table, pollable),
        )?
    }

    fn block(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<()> {
        until(
            self.deadline,
            async_poll::HostPollable::block(self.table, pollable),
        )?
    }

    fn drop(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.table, pollable)
    }
}

impl streams::Host for BoundedIo<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        streams::Host::convert_stream_error(self.table, err)
    }
}

impl streams::HostOutputStream for BoundedIo<'_> {
    fn drop(&mut self, stream: Resource<OutputStream>) -> wasmtime::Result<()> {
        until(
            self.deadline,
            async_streams::HostOutputStream::drop(self.table, stream),
        )?
    }

    fn check_write(&mut self, stream: Resource<OutputStream>) -> StreamResult<u64> {
        streams::HostOutputStream::check_write(self.table, stream)
    }

    fn write(&mut self, stream: Resource<OutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        streams::HostOutputStream::write(self.table, stream, bytes)
    }

    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        stream_until(
            self.deadline,
            async_streams::HostOutputStream::blocking_write_and_flush(self.table, stream, bytes),
        )
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        stream_until(
            self.deadline,
            async_streams::HostOutputStream::blocking_write_zeroes_and_flush(
                self.table, stream, len,
            ),
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<OutputStream>,
    ) -> wasmtime::Result<Resource<Pollable>> {
        streams::HostOutputStream::subscribe(self.table, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<OutputStream>, len: u64) -> StreamResult<()> {
        streams::HostOutputStream::write_zeroes(self.table, stream, len)
    }

    fn flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        streams::HostOutputStream::flush(self.table, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        stream_until(
            self.deadline,
            async_streams::HostOutputStream::blocking_flush(
                self.table,
                Resource::new_borrow(stream.rep()),
            ),
        )
    }

    fn splice(
        &mut self,
        dst: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        streams::HostOutputStream::splice(self.table, dst, src, len)
    }

    fn blocking_splice(
        &mut self,
        dst: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        stream_until(
            self.deadline,
            async_streams::HostOutputStream::blocking_splice(self.table, dst, src, len),
        )
    }
}

impl streams::HostInputStream for BoundedIo<'_> {
    fn drop(&mut self, stream: Resource<InputStream>) -> wasmtime::Result<()> {
        until(
            self.deadline,
            async_streams::HostInputStream::drop(self.table, stream),
        )?
    }

    fn read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        streams::HostInputStream::read(self.table, stream, len)
    }

    fn blocking_read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        stream_until(
            self.deadline,
            async_streams::HostInputStream::blocking_read(self.table, stream, len),
        )
    }

    fn skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        streams::HostInputStream::skip(self.table, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        stream_until(
            self.deadline,
            async_streams::HostInputStream::blocking_skip(self.table, stream, len),
        )
    }

    fn subscribe(&mut self, stream: Resource<InputStream>) -> wasmtime::Result<Resource<Pollable>> {
        streams::HostInputStream::subscribe(self.table, stream)
    }
}
