//! Accepting connections so that slow or stuck clients cannot hold the server:
//! at most `max_connections` at once (more wait in the kernel's backlog), each
//! closed when a request's headers take longer than the header timeout to arrive
//! (also between requests on a kept-alive connection, so idle connections do not
//! hold their slot), bodies bounded in time by the handlers (`body.rs`), and on
//! shutdown every connection drained within the grace period. The answers hyper
//! gives on its own to requests it cannot parse get JSON bodies too
//! (`parse_errors.rs`).
//!
//! axum's own `serve` has no header timeout and no connection bound, so the
//! connections are served with hyper directly, as axum's documentation suggests
//! for such needs.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::parse_errors::JsonParseErrors;

/// Bounds on what clients can hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Connections served at once.
    pub(crate) max_connections: usize,
    /// How long a request's headers may take to arrive (and a kept-alive
    /// connection may stay idle).
    pub(crate) header_timeout: Duration,
    /// How long draining may take after the shutdown signal.
    pub(crate) grace: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and
/// waits (at most the grace period) for the connections to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, most likely: wait a little, not spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true)
            .serve_connection(
                TokioIo::new(JsonParseErrors::new(stream)),
                TowerToHyperService::new(app.clone()),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.grace) => {
            tracing::warn!("grace period over with connections still open");
        }
    }
}
