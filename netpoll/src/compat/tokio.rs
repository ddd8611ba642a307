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
                self.sock.poll_read_tokio(cx, buf)
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
