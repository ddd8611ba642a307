//! Directory listing: a stream of entries read in batches on the blocking
//! pool.

use super::ops::on_pool;
use crate::task::{spawn_blocking, JoinHandle};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs::{FileType, Metadata};
use std::future::{poll_fn, Future};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// How many entries one trip to the blocking pool reads.
const BATCH: usize = 32;

/// Opens the directory `path` and returns a stream of its entries, in the
/// order the file system gives them (not sorted; `.` and `..` are left
/// out). The open and the first batch of entries take one trip to the
/// blocking pool; later batches are read when the earlier ones are used up.
///
/// Go: `os.ReadDir`, which sorts and returns everything at once; this is
/// closer to `(*os.File).ReadDir(n)` in a loop. std: [`std::fs::read_dir`],
/// whose errors it returns unchanged.
///
/// # Example
///
/// ```
/// let dir = std::env::temp_dir().join(format!("netpoll-doc-read_dir-{}", std::process::id()));
/// netpoll::runtime::Runtime::new()?.block_on(async {
///     netpoll::fs::create_dir(&dir).await?;
///     netpoll::fs::write(dir.join("a.txt"), "a").await?;
///     netpoll::fs::create_dir(dir.join("sub")).await?;
///     let mut names = Vec::new();
///     let mut entries = netpoll::fs::read_dir(&dir).await?;
///     while let Some(entry) = entries.next_entry().await? {
///         names.push(entry.file_name().into_string().unwrap());
///     }
///     names.sort();
///     assert_eq!(names, ["a.txt", "sub"]);
///     netpoll::fs::remove_dir_all(&dir).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_owned();
    let batch = on_pool(path, |p| Ok(Batch::new(std::fs::read_dir(p)?).fill())).await?;
    Ok(ReadDir(State::Idle(batch)))
}

/// The entries of a directory, from [`read_dir`]. Read them with
/// [`next_entry`](ReadDir::next_entry) or
/// [`poll_next_entry`](ReadDir::poll_next_entry).
///
/// Dropping it while a batch is being read leaves that read to finish on
/// the pool; the directory is closed then.
///
/// Go: the `*os.File` of a directory. std: [`std::fs::ReadDir`].
pub struct ReadDir(State);

enum State {
    /// Entries in hand (and the directory, unless it has been read to the
    /// end).
    Idle(Batch),
    /// A batch is being read on the pool.
    Reading(JoinHandle<Batch>),
    /// The pool task was lost (runtime shutdown): the stream has ended.
    Done,
}

struct Batch {
    entries: VecDeque<io::Result<DirEntry>>,
    /// `None` once the directory is read to the end.
    dir: Option<std::fs::ReadDir>,
}

impl Batch {
    fn new(dir: std::fs::ReadDir) -> Batch {
        Batch {
            entries: VecDeque::with_capacity(BATCH),
            dir: Some(dir),
        }
    }

    /// Reads up to `BATCH` entries (blocking; pool only).
    fn fill(mut self) -> Batch {
        let Some(dir) = &mut self.dir else {
            return self;
        };
        while self.entries.len() < BATCH {
            match dir.next() {
                Some(entry) => self.entries.push_back(entry.map(DirEntry::new)),
                None => {
                    self.dir = None;
                    break;
                }
            }
        }
        self
    }
}

impl ReadDir {
    /// Returns the next entry, `Ok(None)` at the end of the directory, or
    /// the error std's iterator gave for this entry.
    ///
    /// Cancel safe: an entry read by a dropped call is returned by the
    /// next one.
    ///
    /// # Example
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("netpoll-doc-next_entry-{}", std::process::id()));
    /// netpoll::runtime::Runtime::new()?.block_on(async {
    ///     netpoll::fs::create_dir(&dir).await?;
    ///     let mut entries = netpoll::fs::read_dir(&dir).await?;
    ///     assert!(entries.next_entry().await?.is_none());
    ///     netpoll::fs::remove_dir(&dir).await
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        poll_fn(|cx| self.poll_next_entry(cx)).await
    }

    /// Polls for the next entry: `Ready(Ok(None))` at the end of the
    /// directory. When no entry is in hand, starts reading the next batch
    /// on the blocking pool and registers `cx`'s waker for its end.
    ///
    /// # Example
    ///
    /// ```
    /// use std::future::poll_fn;
    /// let dir = std::env::temp_dir().join(format!("netpoll-doc-poll_next_entry-{}", std::process::id()));
    /// netpoll::runtime::Runtime::new()?.block_on(async {
    ///     netpoll::fs::create_dir(&dir).await?;
    ///     netpoll::fs::write(dir.join("only"), "").await?;
    ///     let mut entries = netpoll::fs::read_dir(&dir).await?;
    ///     let first = poll_fn(|cx| entries.poll_next_entry(cx)).await?;
    ///     assert_eq!(first.unwrap().file_name(), "only");
    ///     assert!(poll_fn(|cx| entries.poll_next_entry(cx)).await?.is_none());
    ///     netpoll::fs::remove_dir_all(&dir).await
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        loop {
            match &mut self.0 {
                State::Idle(batch) => {
                    if let Some(entry) = batch.entries.pop_front() {
                        return Poll::Ready(entry.map(Some));
                    }
                    if batch.dir.is_none() {
                        return Poll::Ready(Ok(None));
                    }
                    let State::Idle(batch) = std::mem::replace(&mut self.0, State::Done) else {
                        unreachable!()
                    };
                    self.0 = State::Reading(spawn_blocking(move || batch.fill()));
                }
                State::Reading(handle) => {
                    let res = ready!(Pin::new(handle).poll(cx));
                    match res {
                        Ok(batch) => self.0 = State::Idle(batch),
                        Err(e) => {
                            self.0 = State::Done;
                            return Poll::Ready(Err(io::Error::other(e)));
                        }
                    }
                }
                State::Done => return Poll::Ready(Ok(None)),
            }
        }
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.0 {
            State::Idle(b) if b.dir.is_none() && b.entries.is_empty() => "done",
            State::Idle(_) => "idle",
            State::Reading(_) => "reading",
            State::Done => "done",
        };
        f.debug_struct("ReadDir").field("state", &state).finish()
    }
}

/// One entry of a directory, from [`ReadDir`].
///
/// Go: `os.DirEntry`. std: [`std::fs::DirEntry`], which it wraps.
pub struct DirEntry {
    std: Arc<std::fs::DirEntry>,
    /// Read on the pool with the entry; free where the directory listing
    /// carries the type (`d_type`), one `lstat` elsewhere.
    file_type: Option<FileType>,
}

impl DirEntry {
    fn new(std: std::fs::DirEntry) -> DirEntry {
        DirEntry {
            file_type: std.file_type().ok(),
            std: Arc::new(std),
        }
    }

    /// The entry's full path: the directory given to [`read_dir`] joined
    /// with [`file_name`](DirEntry::file_name).
    ///
    /// Go: `filepath.Join(dir, e.Name())`. std: [`std::fs::DirEntry::path`].
    ///
    /// # Example
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("netpoll-doc-entry_path-{}", std::process::id()));
    /// netpoll::runtime::Runtime::new()?.block_on(async {
    ///     netpoll::fs::create_dir(&dir).await?;
    ///     netpoll::fs::write(dir.join("f"), "").await?;
    ///     let entry = netpoll::fs::read_dir(&dir).await?.next_entry().await?.unwrap();
    ///     assert_eq!(entry.path(), dir.join("f"));
    ///     netpoll::fs::remove_dir_all(&dir).await
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn path(&self) -> PathBuf {
        self.std.path()
    }

    /// The entry's name within its directory, without any leading path.
    ///
    /// Go: `e.Name()`. std: [`std::fs::DirEntry::file_name`].
    ///
    /// # Example
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("netpoll-doc-entry_file_name-{}", std::process::id()));
    /// netpoll::runtime::Runtime::new()?.block_on(async {
    ///     netpoll::fs::create_dir(&dir).await?;
    ///     netpoll::fs::write(dir.join("name.txt"), "").await?;
    ///     let entry = netpoll::fs::read_dir(&dir).await?.next_entry().await?.unwrap();
    ///     assert_eq!(entry.file_name(), "name.txt");
    ///     netpoll::fs::remove_dir_all(&dir).await
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn file_name(&self) -> OsString {
        self.std.file_name()
    }

    /// The entry's metadata, not following a symlink (an `lstat` relative
    /// to the directory, on the blocking pool).
    ///
    /// Go: `e.Info()`. std: [`std::fs::DirEntry::metadata`], whose errors it
    /// returns unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("netpoll-doc-entry_metadata-{}", std::process::id()));
    /// netpoll::runtime::Runtime::new()?.block_on(async {
    ///     netpoll::fs::create_dir(&dir).await?;
    ///     netpoll::fs::write(dir.join("f"), "four").await?;
    ///     let entry = netpoll::fs::read_dir(&dir).await?.next_entry().await?.unwrap();
    ///     assert_eq!(entry.metadata().await?.len(), 4);
    ///     netpoll::fs::remove_dir_all(&dir).await
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn metadata(&self) -> io::Result<Metadata> {
        on_pool(self.std.clone(), |e| e.metadata()).await
    }

    /// The entry's type, not following a symlink. Usually known from the
    /// listing itself; otherwise found with an `lstat` on the blocking
    /// pool.
    ///
    /// Go: `e.Type()`. std: [`std::fs::DirEntry::file_type`], whose errors
    /// it returns unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("netpoll-doc-entry_file_type-{}", std::process::id()));
    /// netpoll::runtime::Runtime::new()?.block_on(async {
    ///     netpoll::fs::create_dir_all(dir.join("sub")).await?;
    ///     let entry = netpoll::fs::read_dir(&dir).await?.next_entry().await?.unwrap();
    ///     assert!(entry.file_type().await?.is_dir());
    ///     netpoll::fs::remove_dir_all(&dir).await
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn file_type(&self) -> io::Result<FileType> {
        match self.file_type {
            Some(t) => Ok(t),
            None => on_pool(self.std.clone(), |e| e.file_type()).await,
        }
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DirEntry").field(&self.path()).finish()
    }
}
