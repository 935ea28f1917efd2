//! A request id for every request: in the `X-Request-Id` header of every answer,
//! in the body of every error, and in the server's log lines about the request,
//! so that a tenant told only what failed can hand the operator the id under
//! which the server logged where and why.
//!
//! Ids are 16 hex digits: a counter passed through SipHash under a key drawn at
//! start-up, so ids do not repeat within a run, and a tenant comparing the ids
//! of its own requests learns nothing of how many the server answered between
//! them (as a plain counter would tell it of the other tenants).

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The header that carries the id.
pub(crate) const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: RequestId;
}

/// One request's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestId(u64);

impl RequestId {
    /// A new id, never issued before in this process.
    pub(crate) fn issue() -> Self {
        static KEY: OnceLock<RandomState> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let count = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(KEY.get_or_init(RandomState::new).hash_one(count))
    }

    /// The id of the request being answered, inside [`assign`]'s scope.
    pub(crate) fn current() -> Option<Self> {
        CURRENT.try_with(|id| *id).ok()
    }

    /// [`current`](Self::current) as text for a log line (empty outside a
    /// request).
    pub(crate) fn current_text() -> String {
        Self::current().map(|id| id.to_string()).unwrap_or_default()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Middleware: gives the request an id, answers it within the id's scope (so
/// handlers and error responses can read it) and puts it in the answer's header.
pub(crate) async fn assign(request: Request, next: Next) -> Response {
    let id = RequestId::issue();
    let mut response = CURRENT.scope(id, next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
