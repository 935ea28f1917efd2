//! Reading a request's body: only after its headers passed (see `auth.rs`), at
//! most `MAX_BODY` bytes, and all of it within one deadline counted from the end
//! of the headers. A timeout that restarted with every chunk (tower-http's
//! `RequestBodyTimeoutLayer`) let a client hold a connection for as long as it
//! sent a byte now and then.

use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::api_error::ApiError;

/// The largest request body accepted (413 beyond).
pub(crate) const MAX_BODY: usize = 1 << 20;

/// How much of a body declared too large is read and dropped before the 413
/// when the client did not wait for `100 Continue` (and so is sending it).
const DISCARD_AT_MOST: u64 = 4 << 20;

/// Refuses a body whose declared length is over `max`. A client that sent
/// `Expect: 100-continue` sends nothing before it is told to, so it gets the
/// 413 at once, never `100 Continue`. Any other client is sending the body
/// already: up to 4 MiB of it is read and dropped (within `deadline`) so that
/// closing the connection does not reset it before the client reads the 413.
///
/// # Errors
/// [`ApiError::TooLarge`].
pub(crate) async fn refuse_declared_too_large(
    headers: &HeaderMap,
    body: Body,
    max: usize,
    deadline: Instant,
) -> Result<Body, ApiError> {
    // hyper knows the declared length (`Content-Length`) and says so here.
    match body.size_hint().exact() {
        Some(length) if length > max as u64 => {
            let waits_for_continue = headers
                .get(header::EXPECT)
                .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
            if !waits_for_continue {
                let _ = tokio::time::timeout_at(
                    deadline.into(),
                    discard(body, length.min(DISCARD_AT_MOST)),
                )
                .await;
            }
            Err(ApiError::TooLarge(max))
        }
        _ => Ok(body),
    }
}

async fn discard(mut body: Body, mut left: u64) {
    while left > 0 {
        match body.frame().await {
            Some(Ok(frame)) => {
                let taken = frame.into_data().map_or(0, |data| data.len() as u64);
                left = left.saturating_sub(taken);
            }
            _ => return,
        }
    }
}

/// The whole body, if it is at most `max` bytes and arrives by `deadline`.
///
/// # Errors
/// [`ApiError::BodyTimeout`] past the deadline; [`ApiError::TooLarge`] over
/// `max`; [`ApiError::BadRequest`] when the connection failed mid-body.
pub(crate) async fn read_within(
    body: Body,
    max: usize,
    deadline: Instant,
) -> Result<Bytes, ApiError> {
    tokio::time::timeout_at(deadline.into(), collect(body, max))
        .await
        .map_err(|_| ApiError::BodyTimeout)?
}

async fn collect(body: Body, max: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ApiError::TooLarge(max)),
        Err(_) => Err(ApiError::BadRequest("the body could not be read".into())),
    }
}
