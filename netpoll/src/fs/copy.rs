//! `fs::copy` on the copy engine (Go: no os.CopyFile; std: fs::copy).

use super::{File, OpenOptions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Copies the contents of `from` to `to` (created, or truncated), through
/// [`io::copy`](crate::io::copy), so the kernel copies the bytes
/// (copy_file_range) where it can; `to` gets `from`'s permission bits, as
/// with `std::fs::copy`. Returns the bytes copied.
///
/// # Example
///
/// ```
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     let dir = std::env::temp_dir();
///     let (a, b) = (dir.join(format!("np-fscopy-a-{}", std::process::id())), dir.join(format!("np-fscopy-b-{}", std::process::id())));
///     netpoll::fs::write(&a, "contents").await?;
///     assert_eq!(netpoll::fs::copy(&a, &b).await?, 8);
///     assert_eq!(netpoll::fs::read(&b).await?, b"contents");
///     netpoll::fs::remove_file(&a).await?;
///     netpoll::fs::remove_file(&b).await?;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let mut src = File::open(from).await?;
    let mode = src.metadata().await?.permissions().mode();
    let mut dst = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(to)
        .await?;
    let n = crate::io::copy(&mut src, &mut dst).await?;
    // The mode given at creation went through the umask, and an existing
    // file kept its own: set it as std does.
    dst.with_fd(|fd| {
        rustix::fs::fchmod(
            fd,
            rustix::fs::Mode::from_raw_mode(mode as rustix::fs::RawMode),
        )
    })??;
    Ok(n)
}
