//! Files, through the poller where the kernel allows and the blocking pool
//! where it does not (Go: package os's File).

pub(crate) mod fdio;
mod file;

pub use file::{File, OpenOptions};
