//! One async function per `std::fs` function, each running the std call on
//! the blocking pool.

use crate::task::spawn_blocking;
use std::fs::{Metadata, Permissions};
use std::io;
use std::path::{Path, PathBuf};

/// Runs `f(arg)` on the blocking pool. The owned argument moves to the
/// pool thread; a pool task that panicked or was cancelled by runtime
/// shutdown becomes an `io::Error` wrapping the `JoinError`.
pub(super) async fn on_pool<A, T, F>(arg: A, f: F) -> io::Result<T>
where
    A: Send + 'static,
    T: Send + 'static,
    F: FnOnce(A) -> io::Result<T> + Send + 'static,
{
    spawn_blocking(move || f(arg))
        .await
        .map_err(io::Error::other)?
}

fn owned(path: impl AsRef<Path>) -> PathBuf {
    path.as_ref().to_owned()
}

/// Reads a whole file into a byte vector.
///
/// Go: `os.ReadFile`. std: [`std::fs::read`], whose errors it returns
/// unchanged.
///
/// # Example
///
/// ```
/// let path = std::env::temp_dir().join(format!("netpoll-doc-read-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::write(&path, b"hello").await?;
///     assert_eq!(netpoll::fs::read(&path).await?, b"hello");
///     netpoll::fs::remove_file(&path).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    on_pool(owned(path), std::fs::read).await
}

/// Reads a whole file into a string; invalid UTF-8 is an error of kind
/// [`io::ErrorKind::InvalidData`].
///
/// Go: `os.ReadFile` then `string(b)` (Go does not check the encoding).
/// std: [`std::fs::read_to_string`], whose errors it returns unchanged.
///
/// # Example
///
/// ```
/// let path = std::env::temp_dir().join(format!("netpoll-doc-read_to_string-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::write(&path, "hello").await?;
///     assert_eq!(netpoll::fs::read_to_string(&path).await?, "hello");
///     netpoll::fs::remove_file(&path).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    on_pool(owned(path), std::fs::read_to_string).await
}

/// Writes `contents` to a file, creating it if it does not exist and
/// truncating it if it does. The contents are copied before the pool runs
/// the write.
///
/// Go: `os.WriteFile` (whose permission argument is std's default here,
/// 0o666 before the umask). std: [`std::fs::write`], whose errors it
/// returns unchanged.
///
/// # Example
///
/// ```
/// let path = std::env::temp_dir().join(format!("netpoll-doc-write-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::write(&path, "first").await?;
///     netpoll::fs::write(&path, "second").await?;
///     assert_eq!(netpoll::fs::read_to_string(&path).await?, "second");
///     netpoll::fs::remove_file(&path).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    on_pool((owned(path), contents.as_ref().to_owned()), |(p, c)| {
        std::fs::write(p, c)
    })
    .await
}

/// Returns the metadata of the file `path` names, following symlinks.
///
/// Go: `os.Stat`. std: [`std::fs::metadata`], whose errors it returns
/// unchanged.
///
/// # Example
///
/// ```
/// let path = std::env::temp_dir().join(format!("netpoll-doc-metadata-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::write(&path, "12345").await?;
///     let meta = netpoll::fs::metadata(&path).await?;
///     assert!(meta.is_file());
///     assert_eq!(meta.len(), 5);
///     netpoll::fs::remove_file(&path).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    on_pool(owned(path), std::fs::metadata).await
}

/// Returns the metadata of `path` itself, not following a final symlink.
///
/// Go: `os.Lstat`. std: [`std::fs::symlink_metadata`], whose errors it
/// returns unchanged.
///
/// # Example
///
/// ```
/// let dir = std::env::temp_dir().join(format!("netpoll-doc-symlink_metadata-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::create_dir(&dir).await?;
///     netpoll::fs::symlink("nowhere", dir.join("link")).await?;
///     let meta = netpoll::fs::symlink_metadata(dir.join("link")).await?;
///     assert!(meta.file_type().is_symlink());
///     netpoll::fs::remove_dir_all(&dir).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    on_pool(owned(path), std::fs::symlink_metadata).await
}

/// Creates a directory; its parent must exist and it must not.
///
/// Go: `os.Mkdir` (with std's default permissions, 0o777 before the
/// umask). std: [`std::fs::create_dir`], whose errors it returns unchanged.
///
/// # Example
///
/// ```
/// let dir = std::env::temp_dir().join(format!("netpoll-doc-create_dir-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::create_dir(&dir).await?;
///     let again = netpoll::fs::create_dir(&dir).await.unwrap_err();
///     assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
///     netpoll::fs::remove_dir(&dir).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    on_pool(owned(path), std::fs::create_dir).await
}

/// Creates a directory and every missing parent; a directory that already
/// exists is not an error.
///
/// Go: `os.MkdirAll`. std: [`std::fs::create_dir_all`], whose errors it
/// returns unchanged.
///
/// # Example
///
/// ```
/// let dir = std::env::temp_dir().join(format!("netpoll-doc-create_dir_all-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::create_dir_all(dir.join("a/b/c")).await?;
///     assert!(netpoll::fs::metadata(dir.join("a/b/c")).await?.is_dir());
///     netpoll::fs::remove_dir_all(&dir).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    on_pool(owned(path), std::fs::create_dir_all).await
}

/// Removes a file (or a symlink, not its target). Unlike Go's
/// `os.Remove`, it does not remove directories: use [`remove_dir`].
///
/// Go: `os.Remove`. std: [`std::fs::remove_file`], whose errors it returns
/// unchanged.
///
/// # Example
///
/// ```
/// let path = std::env::temp_dir().join(format!("netpoll-doc-remove_file-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::write(&path, "bye").await?;
///     netpoll::fs::remove_file(&path).await?;
///     let gone = netpoll::fs::metadata(&path).await.unwrap_err();
///     assert_eq!(gone.kind(), std::io::ErrorKind::NotFound);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    on_pool(owned(path), std::fs::remove_file).await
}

/// Removes an empty directory.
///
/// Go: `os.Remove` on a directory. std: [`std::fs::remove_dir`], whose
/// errors it returns unchanged.
///
/// # Example
///
/// ```
/// let dir = std::env::temp_dir().join(format!("netpoll-doc-remove_dir-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::create_dir(&dir).await?;
///     netpoll::fs::remove_dir(&dir).await?;
///     assert!(netpoll::fs::metadata(&dir).await.is_err());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    on_pool(owned(path), std::fs::remove_dir).await
}

/// Removes a directory and everything in it (symlinks are removed, not
/// followed). Unlike Go, a missing `path` is an error of kind
/// [`io::ErrorKind::NotFound`].
///
/// Go: `os.RemoveAll`. std: [`std::fs::remove_dir_all`], whose errors it
/// returns unchanged.
///
/// # Example
///
/// ```
/// let dir = std::env::temp_dir().join(format!("netpoll-doc-remove_dir_all-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::create_dir_all(dir.join("sub")).await?;
///     netpoll::fs::write(dir.join("sub/file"), "x").await?;
///     netpoll::fs::remove_dir_all(&dir).await?;
///     assert!(netpoll::fs::metadata(&dir).await.is_err());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    on_pool(owned(path), std::fs::remove_dir_all).await
}

/// Renames `from` to `to`, replacing `to` if it is a file. Both must be on
/// the same file system.
///
/// Go: `os.Rename`. std: [`std::fs::rename`], whose errors it returns
/// unchanged.
///
/// # Example
///
/// ```
/// let dir = std::env::temp_dir().join(format!("netpoll-doc-rename-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::create_dir(&dir).await?;
///     netpoll::fs::write(dir.join("old"), "data").await?;
///     netpoll::fs::rename(dir.join("old"), dir.join("new")).await?;
///     assert_eq!(netpoll::fs::read_to_string(dir.join("new")).await?, "data");
///     netpoll::fs::remove_dir_all(&dir).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    on_pool((owned(from), owned(to)), |(f, t)| std::fs::rename(f, t)).await
}

/// Returns the absolute form of `path` with every symlink, `.` and `..`
/// resolved; the path must exist.
///
/// Go: `filepath.Abs` then `filepath.EvalSymlinks`. std:
/// [`std::fs::canonicalize`], whose errors it returns unchanged.
///
/// # Example
///
/// ```
/// let dir = std::env::temp_dir().join(format!("netpoll-doc-canonicalize-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::create_dir_all(dir.join("sub")).await?;
///     let p = netpoll::fs::canonicalize(dir.join("sub/..")).await?;
///     assert!(p.is_absolute());
///     assert_eq!(p, netpoll::fs::canonicalize(&dir).await?);
///     netpoll::fs::remove_dir_all(&dir).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    on_pool(owned(path), std::fs::canonicalize).await
}

/// Creates `link` as a new hard link to the file `original`.
///
/// Go: `os.Link`. std: [`std::fs::hard_link`], whose errors it returns
/// unchanged.
///
/// # Example
///
/// ```
/// let dir = std::env::temp_dir().join(format!("netpoll-doc-hard_link-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::create_dir(&dir).await?;
///     netpoll::fs::write(dir.join("a"), "shared").await?;
///     netpoll::fs::hard_link(dir.join("a"), dir.join("b")).await?;
///     assert_eq!(netpoll::fs::read_to_string(dir.join("b")).await?, "shared");
///     netpoll::fs::remove_dir_all(&dir).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    on_pool((owned(original), owned(link)), |(o, l)| {
        std::fs::hard_link(o, l)
    })
    .await
}

/// Sets the permissions of the file `path` names, following symlinks.
///
/// Go: `os.Chmod`. std: [`std::fs::set_permissions`], whose errors it
/// returns unchanged.
///
/// # Example
///
/// ```
/// let path = std::env::temp_dir().join(format!("netpoll-doc-set_permissions-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::write(&path, "x").await?;
///     let mut perms = netpoll::fs::metadata(&path).await?.permissions();
///     perms.set_readonly(true);
///     netpoll::fs::set_permissions(&path, perms).await?;
///     assert!(netpoll::fs::metadata(&path).await?.permissions().readonly());
///     netpoll::fs::remove_file(&path).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn set_permissions(path: impl AsRef<Path>, perm: Permissions) -> io::Result<()> {
    on_pool((owned(path), perm), |(p, m)| std::fs::set_permissions(p, m)).await
}

/// Returns the target a symlink points to, as stored (not resolved).
///
/// Go: `os.Readlink`. std: [`std::fs::read_link`], whose errors it returns
/// unchanged.
///
/// # Example
///
/// ```
/// let dir = std::env::temp_dir().join(format!("netpoll-doc-read_link-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::create_dir(&dir).await?;
///     netpoll::fs::symlink("target", dir.join("link")).await?;
///     assert_eq!(netpoll::fs::read_link(dir.join("link")).await?, std::path::Path::new("target"));
///     netpoll::fs::remove_dir_all(&dir).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    on_pool(owned(path), std::fs::read_link).await
}

/// Creates `link` as a symbolic link to `original`; `original` need not
/// exist, and a relative one is resolved from the link's directory.
///
/// Go: `os.Symlink`. std: [`std::os::unix::fs::symlink`], whose errors it
/// returns unchanged.
///
/// # Example
///
/// ```
/// let dir = std::env::temp_dir().join(format!("netpoll-doc-symlink-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::create_dir(&dir).await?;
///     netpoll::fs::write(dir.join("target"), "via link").await?;
///     netpoll::fs::symlink("target", dir.join("link")).await?;
///     assert_eq!(netpoll::fs::read_to_string(dir.join("link")).await?, "via link");
///     netpoll::fs::remove_dir_all(&dir).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(unix)]
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    on_pool((owned(original), owned(link)), |(o, l)| {
        std::os::unix::fs::symlink(o, l)
    })
    .await
}
