//! Files and the file system (Go: package os; tokio: `tokio::fs`).
//!
//! [`File`] takes the path Go's os.File takes, chosen per fd when it is
//! opened: FIFOs, ttys, character devices and sockets go through the
//! poller (with deadlines); regular files and directories, which no poller
//! can watch, do their I/O on the blocking pool. The functions here
//! (`read`, `write`, `metadata`, `read_dir`...) run std's blocking calls
//! on the blocking pool, so a worker never stalls on the disk. Errors are
//! std's, unchanged.
//!
//! ```
//! let path = std::env::temp_dir().join(format!("netpoll-doc-fs-{}", std::process::id()));
//! netpoll::runtime::Runtime::new()?.block_on(async {
//!     netpoll::fs::write(&path, "hello").await?;
//!     assert_eq!(netpoll::fs::read_to_string(&path).await?, "hello");
//!     netpoll::fs::remove_file(&path).await
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)] // unsafe lives in sys, poll and runtime (CONTRIBUTING)

mod copy;
pub(crate) mod fdio;
mod file;
mod ops;
mod read_dir;

pub use copy::copy;
pub use file::{File, OpenOptions};
pub use ops::*;
pub use read_dir::{read_dir, DirEntry, ReadDir};
