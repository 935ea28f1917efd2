//! JSON bodies for the answers hyper gives on its own.
//!
//! A request hyper cannot parse (a malformed request line or header, a URI over
//! 64 KiB, headers over its buffer) never reaches the service: hyper answers 400,
//! 414 or 431 itself, with an empty body, and closes the connection. hyper has no
//! hook for that answer, so the connection's byte stream is wrapped: an answer
//! that starts a write with a 4xx status line and says `content-length: 0` can
//! only be hyper's (every answer of the service has a JSON body), and it is
//! replaced, whole, by the same status with the service's
//! `{"error": ..., "request_id": ...}` body.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::request_id::RequestId;

/// A connection whose automatic HTTP error answers get JSON bodies.
pub(crate) struct JsonParseErrors<S> {
    inner: S,
    /// A replacement answer, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> JsonParseErrors<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> JsonParseErrors<S> {
    /// Writes what is left of a replacement answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// When `buf` is one of hyper's bodiless 4xx answers, takes it whole (the
    /// replacement goes out now or on flush) and says how much was taken.
    fn intercept(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<io::Result<usize>> {
        let answer = replacement(buf)?;
        self.pending = Some((answer, 0));
        Some(match self.poll_pending(cx) {
            Poll::Ready(Err(e)) => Err(e),
            _ => Ok(buf.len()),
        })
    }
}

/// The JSON answer that replaces `buf`, when `buf` is one of hyper's own
/// bodiless 4xx answers.
fn replacement(buf: &[u8]) -> Option<Vec<u8>> {
    // Every answer passes here: most leave at this first look.
    if !(buf.starts_with(b"HTTP/1.1 4") || buf.starts_with(b"HTTP/1.0 4")) {
        return None;
    }
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let status = head
        .strip_prefix("HTTP/1.1 4")
        .or_else(|| head.strip_prefix("HTTP/1.0 4"))?;
    if !head
        .to_ascii_lowercase()
        .contains("\r\ncontent-length: 0\r\n")
    {
        return None;
    }
    let code = format!("4{}", status.get(..2)?);
    let reason = head.lines().next()?.get(13..).unwrap_or_default();
    let error = match code.as_str() {
        "414" => "the request's URI is too long",
        "431" => "the request's headers are too large",
        _ => "the request is not valid HTTP/1.1",
    };
    let body = serde_json::json!({ "error": error, "request_id": RequestId::issue().to_string() })
        .to_string();
    Some(
        format!(
            "HTTP/1.1 {code} {reason}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(taken) = self.intercept(cx, buf) {
            return Poll::Ready(taken);
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(taken) = bufs.first().and_then(|first| self.intercept(cx, first)) {
            return Poll::Ready(taken);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonParseErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodiless_4xx_answers_are_replaced() {
        let hyper = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Fri, 04 Dec 2026 16:14:19 GMT\r\n\r\n";
        let answer = String::from_utf8(replacement(hyper).unwrap()).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 414 URI Too Long\r\n"),
            "{answer}"
        );
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"], "the request's URI is too long");
        assert_eq!(body["request_id"].as_str().unwrap().len(), 16);

        for ours in [
            &b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 52\r\n\r\n{\"error\":\"x\"}"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
            b"{\"ok\":\"HTTP/1.1 400 \\r\\ncontent-length: 0\\r\\n\\r\\n\"}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
        ] {
            assert!(
                replacement(ours).is_none(),
                "{}",
                String::from_utf8_lossy(ours)
            );
        }
    }
}
