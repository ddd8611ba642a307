//! A child's stdio pipes, through the poller (Go: exec.Cmd.StdinPipe...).

use crate::fs::fdio::{fdio_has_fd, FdIo, Origin};
use crate::net::common::fd_methods;
use std::io;
use std::os::fd::OwnedFd;

macro_rules! child_pipe {
    ($(#[$doc:meta])* $name:ident, $field:ident) => {
        $(#[$doc])*
        pub struct $name {
            io: FdIo,
        }

        impl $name {
            pub(crate) fn new(fd: OwnedFd) -> io::Result<$name> {
                Ok($name {
                    io: FdIo::new(fd, Origin::Opened)?,
                })
            }
        }

        fdio_has_fd!($name);

        fd_methods!($name, concat!("# netpoll::runtime::Runtime::new()?.block_on(async {
let mut child = netpoll::process::Command::new(\"cat\")
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()?;
let s = child.", stringify!($field), ".take().unwrap();
# drop(child.stdin.take());"));
    };
}

child_pipe!(
    /// The write end of a child's standard input.
    ChildStdin,
    stdin
);
child_pipe!(
    /// The read end of a child's standard output.
    ChildStdout,
    stdout
);
child_pipe!(
    /// The read end of a child's standard error.
    ChildStderr,
    stderr
);

impl ChildStdin {
    /// Writes some of `buf`, waiting for room.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write(buf).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.io.write_all(buf).await
    }
}

macro_rules! reader {
    ($name:ident) => {
        impl $name {
            /// Reads into `buf`; 0 once the child closed its end.
            pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                self.io.read(buf).await
            }

            /// Reads to the end, appending to `out`.
            pub async fn read_to_end(&self, out: &mut Vec<u8>) -> io::Result<usize> {
                self.io.read_to_end(out).await
            }
        }
    };
}

reader!(ChildStdout);
reader!(ChildStderr);
