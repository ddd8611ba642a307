//! tokio's `AsyncRead` and `AsyncWrite` for the stream types (feature
//! `tokio-io`). Only the traits: tokio's runtime is not involved.

/// The two traits for a stream type or a reference to one.
macro_rules! tokio_io {
    ($t:ty) => {
        impl ::tokio::io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut ::tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // Unsafe outside sys/ because tokio offers no safe way to
                // read into a buffer's uninitialised part; the alternative,
                // `initialize_unfilled`, zeroes it on every read (a codec's
                // fresh `ReadBuf` starts with nothing initialised).
                // SAFETY: recv(2) only writes into `dst`; nothing here
                // de-initialises any of it.
                let dst = unsafe { buf.unfilled_mut() };
                let n = std::task::ready!(self.sock.poll_read_uninit(cx, dst))?;
                // SAFETY: recv(2) initialised the first `n` bytes of the
                // unfilled part.
                unsafe { buf.assume_init(n) };
                buf.advance(n);
                std::task::Poll::Ready(Ok(()))
            }
        }

        $crate::net::common::write_half!(
            ::tokio::io::AsyncWrite,
            $t,
            poll_shutdown,
            is_write_vectored
        );
    };
}

pub(crate) use tokio_io;
