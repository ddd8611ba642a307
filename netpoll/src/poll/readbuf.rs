//! Stream reads into other crates' read buffers in place: tokio's
//! `ReadBuf` and hyper's `ReadBufCursor` (features `tokio-io` and
//! `hyper`).
//!
//! Neither crate offers a safe way to read into a buffer's uninitialised
//! part without zeroing it first (`initialize_unfilled` zeroes all of the
//! spare room, 8 KiB or more, on every read; `put_slice` costs a copy), so
//! the two unsafe steps each takes (lend the uninitialised part, then
//! vouch for the bytes recv(2) wrote) live here, in the fd layer, and the
//! `compat` and `net` modules that expand the trait impls stay free of
//! `unsafe` (`#![forbid(unsafe_code)]` there). Each function owns its
//! recv(2) call: no caller-supplied code touches the lent memory, so none
//! can de-initialise it or claim bytes recv(2) did not write.

#![cfg(any(feature = "tokio-io", feature = "hyper"))]

use super::fd::{Fd, MAX_RW};
use rustix::net::RecvFlags;
use std::io;
use std::mem::MaybeUninit;
use std::task::{Context, Poll};

impl Fd {
    /// A stream read (see [`Fd::poll_read_stream`]) into memory that may
    /// be uninitialised. recv(2) only writes into `buf`, and the count
    /// returned is the length of the prefix it wrote (rustix hands back
    /// that prefix as initialised bytes).
    fn poll_recv_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        let want = buf.len().min(MAX_RW);
        self.poll_read_stream(cx, want, |fd| {
            if want == 0 {
                return Ok(0);
            }
            let ((filled, _), _) = rustix::net::recv(fd, &mut buf[..want], RecvFlags::empty())?;
            Ok(filled.len())
        })
    }

    /// tokio's `AsyncRead::poll_read` for a stream socket.
    #[cfg(feature = "tokio-io")]
    pub(crate) fn poll_recv_tokio(
        &self,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: the unfilled part goes to `poll_recv_uninit` only, where
        // recv(2) writes into it and nothing de-initialises any of it.
        let dst = unsafe { buf.unfilled_mut() };
        let n = std::task::ready!(self.poll_recv_uninit(cx, dst))?;
        // SAFETY: recv(2) wrote the first `n` bytes of the unfilled part.
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }

    /// hyper's `rt::Read::poll_read` for a stream socket.
    #[cfg(feature = "hyper")]
    pub(crate) fn poll_recv_hyper(
        &self,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: the cursor's memory goes to `poll_recv_uninit` only,
        // where recv(2) writes into it and nothing de-initialises any of it.
        let dst = unsafe { buf.as_mut() };
        let n = std::task::ready!(self.poll_recv_uninit(cx, dst))?;
        // SAFETY: recv(2) wrote (initialised) the first `n` bytes.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}
