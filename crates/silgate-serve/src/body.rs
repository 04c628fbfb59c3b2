//! The timers of one request's body and of a connection's writes.
//!
//! Hyper times the request headers, but not what comes after them: a client may send
//! its headers and then a byte a minute, or ask for an answer and never read it, and
//! hold its connection until the lifetime limit. Both are cut here, each where it can
//! be seen for what it is:
//!
//! - [`Timed`] wraps the request body the handler reads: each piece must arrive
//!   within the idle time and the whole body within its own time. A body that misses
//!   either ends in an error, which the handler's extractor turns into its answer
//!   (hyper then closes the connection: the rest of the body was never read).
//! - [`WriteStall`] wraps the connection: a write (or flush) the client does not take
//!   within the idle time fails, and the connection with it. Reads are not timed here:
//!   between requests hyper's header timer applies, during a request the body's.

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Why a request body was cut.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyTimeout {
    /// No piece of the body arrived within the idle time.
    #[error("request body stalled: nothing arrived for {0:?}")]
    Stalled(Duration),
    /// The body did not end within its time.
    #[error("request body not complete within {0:?}")]
    TooSlow(Duration),
}

/// A request body whose pieces must each arrive within `idle` and which must end
/// within `whole` of the request's headers.
pub(crate) struct Timed<B> {
    inner: B,
    idle: Duration,
    whole: Duration,
    piece: Pin<Box<Sleep>>,
    deadline: Pin<Box<Sleep>>,
}

impl<B> Timed<B> {
    /// Times `inner` from now.
    pub(crate) fn new(inner: B, idle: Duration, whole: Duration) -> Self {
        let now = Instant::now();
        Self { inner, idle, whole, piece: Box::pin(tokio::time::sleep_until(now + idle)), deadline: Box::pin(tokio::time::sleep_until(now + whole)) }
    }
}

impl<B> Body for Timed<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            let next = Instant::now() + this.idle;
            this.piece.as_mut().reset(next);
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimeout::TooSlow(this.whole).into())));
        }
        if this.piece.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimeout::Stalled(this.idle).into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection whose writes must be taken by the client within `limit`.
pub(crate) struct WriteStall<I> {
    inner: I,
    limit: Duration,
    /// Armed while a write waits on the client.
    waiting: Option<Pin<Box<Sleep>>>,
}

impl<I> WriteStall<I> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: I, limit: Duration) -> Self {
        Self { inner, limit, waiting: None }
    }

    /// What a pending write becomes: still pending while within the limit (the timer
    /// armed at its first wait), an error once past it.
    fn stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let limit = self.limit;
        let timer = self.waiting.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, format!("the client took nothing written for {limit:?}"))))
    }

    /// Passes a write's outcome on: a finished one disarms the timer.
    fn settle<T>(&mut self, polled: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(r) => {
                self.waiting = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.stalled(cx),
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WriteStall<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WriteStall<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.settle(polled, cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.settle(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.settle(polled, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.settle(polled, cx)
    }
}
