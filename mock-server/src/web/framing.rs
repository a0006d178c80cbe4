//! The one framing refusal hyper makes that a client can provoke with a well-formed request: a request URI
//! over hyper's limit (65,534 bytes) gets hyper's bare `414 URI Too Long` and a close, before any service
//! runs. [`UkoFraming`] wraps the connection's stream and replaces exactly that answer, as hyper writes it,
//! with the same status in UKO's error shape, so a client (a 100 KB id) still gets an error body it can read.
//! Every other byte passes through untouched. Our own services never answer 414.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::{ApiError, ErrorCode};

/// The status line hyper writes for a URI over its limit.
const HYPER_414: &[u8] = b"HTTP/1.1 414 URI Too Long\r\n";

/// A connection stream whose hyper-made 414 is replaced by a UKO-shaped one.
pub struct UkoFraming<T> {
    inner: T,
    /// The UKO-shaped answer still to be written, and how much of it was.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> UkoFraming<T> {
    /// Wraps a connection's stream.
    pub fn new(inner: T) -> UkoFraming<T> {
        UkoFraming { inner, pending: None }
    }
}

/// The whole replacement answer: status, UKO error body, and the close hyper meant.
fn uko_414() -> Vec<u8> {
    let trace = super::gateway::generated_correlation_id();
    let body = ApiError::new(
        ErrorCode::UriTooLong,
        "The request URI must be at most 65534 bytes; send long values in a request body",
    )
    .body(&trace);
    let mut answer = format!(
        "HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-type: application/json\r\nx-correlation-id: {trace}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

impl<T: AsyncWrite + Unpin> UkoFraming<T> {
    /// Writes what is left of a replacement answer; ready once all of it is written.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((answer, written)) = &mut self.pending {
            if *written == answer.len() {
                self.pending = None;
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, &answer[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for UkoFraming<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for UkoFraming<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        if buf.starts_with(HYPER_414) {
            // hyper's whole head (it has no body): taken as written, replaced by ours.
            self.pending = Some((uko_414(), 0));
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        if buffers.iter().find(|buffer| !buffer.is_empty()).is_some_and(|first| first.starts_with(HYPER_414)) {
            self.pending = Some((uko_414(), 0));
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buffers.iter().map(|buffer| buffer.len()).sum()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
