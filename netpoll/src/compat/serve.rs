//! [`serve`]: an HTTP/1.1 server for hyper and tower services on a
//! netpoll listener, with graceful shutdown and Go's per-connection
//! deadlines (feature `server`).

use crate::net::{TcpListener, TcpStream};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::future::{poll_fn, Future, IntoFuture};
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

pub use hyper_util::service::TowerToHyperService;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The default [`Serve::header_read_timeout`]: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default [`Serve::idle_timeout`]: 60 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The default [`Serve::shutdown_timeout`]: 30 s.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves HTTP/1.1 on `listener` with the hyper service `service` (one
/// clone per connection), each connection a netpoll task, until the
/// [graceful shutdown signal](Serve::with_graceful_shutdown) fires or the
/// listener fails. Await the returned [`Serve`] to run it.
///
/// Connections get Go's `http.Server` deadlines by default, so a slow or
/// stalled client cannot hold a connection forever (slowloris):
///
/// - [header read timeout](Serve::header_read_timeout), 10 s: from accept,
///   and from the first byte of each later request, to the end of its
///   header. Go: `Server.ReadHeaderTimeout`.
/// - [idle timeout](Serve::idle_timeout), 60 s: a keep-alive connection
///   waiting longer than this for its next request is closed. Go:
///   `Server.IdleTimeout`.
///
/// Both are read deadlines on the socket (netpoll's
/// [`set_read_deadline`](TcpStream::set_read_deadline)); neither bounds a
/// handler or a request body, which run without a deadline (Go's
/// `ReadTimeout`/`WriteTimeout` default to none too). Accepted sockets get
/// `TCP_NODELAY`, as Go sets it.
///
/// Upgrades are enabled: a handler can answer `101 Switching Protocols`
/// and take the connection with `hyper::upgrade::on` (WebSocket); from
/// then on the connection has no deadlines and is the handler's, and
/// shutdown does not wait for it (Go: a hijacked connection).
///
/// For a tower service (axum's `Router`) use [`serve_tower`].
///
/// The future fails with the listener's error if accepting fails for good
/// (temporary errors such as `EMFILE` are retried with Go's backoff); the
/// connections accepted by then keep running as detached tasks.
///
/// Go: `http.Server.Serve`; tokio: `axum::serve` / hyper-util's
/// `server::conn::auto` with `GracefulShutdown`.
///
/// # Example
///
/// ```
/// use http_body_util::Full;
/// use hyper::body::Bytes;
/// use std::convert::Infallible;
///
/// # netpoll::runtime::Runtime::new()?.block_on(async {
/// let listener = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
/// let hello = hyper::service::service_fn(|_req| async {
///     Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("hello"))))
/// });
/// netpoll::compat::serve(listener, hello)
///     // Stops at once here; a program would wait for ctrl-c or SIGTERM.
///     .with_graceful_shutdown(async {})
///     .await?;
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub fn serve<S>(listener: TcpListener, service: S) -> Serve<S> {
    Serve {
        listener,
        service,
        signal: None,
        shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
        idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
    }
}

/// [`serve`] for a tower service, such as axum's `Router`: the service is
/// wrapped in hyper-util's [`TowerToHyperService`].
///
/// Go: `http.Server.Serve` with a `Handler`; tokio: `axum::serve`.
///
/// # Example
///
/// ```no_run
/// # #[derive(Clone)] struct Router;
/// # impl tower_service::Service<hyper::Request<hyper::body::Incoming>> for Router {
/// #     type Response = hyper::Response<String>;
/// #     type Error = std::convert::Infallible;
/// #     type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
/// #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> { std::task::Poll::Ready(Ok(())) }
/// #     fn call(&mut self, _: hyper::Request<hyper::body::Incoming>) -> Self::Future { std::future::ready(Ok(hyper::Response::new(String::new()))) }
/// # }
/// # netpoll::runtime::Runtime::new()?.block_on(async {
/// // With axum: let app = axum::Router::new().route("/", get(handler));
/// let app = Router;
/// let listener = netpoll::net::TcpListener::bind("127.0.0.1:8080").await?;
/// netpoll::compat::serve_tower(listener, app).await?;
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub fn serve_tower<S>(listener: TcpListener, service: S) -> Serve<TowerToHyperService<S>> {
    serve(listener, TowerToHyperService::new(service))
}

/// A server being set up by [`serve`]; await it to run it.
#[must_use = "a Serve does nothing until awaited"]
pub struct Serve<S> {
    listener: TcpListener,
    service: S,
    signal: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    shutdown_timeout: Duration,
    header_read_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
}

impl<S> std::fmt::Debug for Serve<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("graceful", &self.signal.is_some())
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl<S> Serve<S> {
    /// Shuts down gracefully when `signal` completes: the listener is
    /// closed (no new connections), idle keep-alive connections are
    /// closed, requests in flight finish and their connections then close.
    /// The server's future returns `Ok(())` once every connection is done,
    /// or, after the [shutdown timeout](Self::shutdown_timeout), closes the
    /// rest and fails with [`TimedOut`](io::ErrorKind::TimedOut).
    ///
    /// Go: `http.Server.Shutdown`; tokio: axum's `with_graceful_shutdown`.
    ///
    /// # Example
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// # let listener = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let svc = hyper::service::service_fn(|_req| async {
    /// #     Ok::<_, Infallible>(hyper::Response::new(String::new()))
    /// # });
    /// use std::time::Duration;
    /// netpoll::compat::serve(listener, svc)
    ///     .with_graceful_shutdown(netpoll::time::sleep(Duration::from_millis(10)))
    ///     .shutdown_timeout(Duration::from_secs(5))
    ///     .await?;
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// How long a graceful shutdown waits for connections to finish
    /// before closing them. Default 30 s.
    ///
    /// Go: the context passed to `http.Server.Shutdown`.
    ///
    /// # Example
    ///
    /// See [`with_graceful_shutdown`](Self::with_graceful_shutdown).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The time a client has to send a request's header, counted from
    /// accept for the first request and from its first byte for later
    /// ones; `None` for no limit. Default 10 s. When it passes the
    /// connection is closed.
    ///
    /// Go: `http.Server.ReadHeaderTimeout`; hyper:
    /// `http1::Builder::header_read_timeout`.
    ///
    /// # Example
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # netpoll::runtime::Runtime::new()?.block_on(async {
    /// # let listener = netpoll::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let svc = hyper::service::service_fn(|_req: hyper::Request<hyper::body::Incoming>| async {
    /// #     Ok::<_, Infallible>(hyper::Response::new(String::new()))
    /// # });
    /// use std::time::Duration;
    /// let server = netpoll::compat::serve(listener, svc)
    ///     .header_read_timeout(Some(Duration::from_secs(5)))
    ///     .idle_timeout(Some(Duration::from_secs(120)));
    /// # drop(server);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a keep-alive connection may wait for its next request
    /// before it is closed; `None` for no limit. Default 60 s.
    ///
    /// Go: `http.Server.IdleTimeout`.
    ///
    /// # Example
    ///
    /// See [`header_read_timeout`](Self::header_read_timeout).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }
}

impl<S, B> IntoFuture for Serve<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<S, B> Serve<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    async fn run(self) -> io::Result<()> {
        let Serve {
            listener,
            service,
            signal,
            shutdown_timeout,
            header_read_timeout,
            idle_timeout,
        } = self;
        let mut signal = signal.unwrap_or_else(|| Box::pin(std::future::pending()));
        let shared = Arc::new(Shared::default());
        // Go's backoff on temporary accept errors (EMFILE and the like):
        // 5 ms doubling to 1 s, so a full fd table is not a busy loop.
        let mut backoff = Duration::ZERO;
        loop {
            let accepted = {
                let mut accept = pin!(listener.accept());
                poll_fn(|cx| {
                    if signal.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    accept.as_mut().poll(cx).map(Some)
                })
                .await
            };
            let stream = match accepted {
                None => break,
                Some(Ok((stream, _))) => stream,
                Some(Err(e)) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Some(Err(e)) if is_temporary(&e) => {
                    backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                    crate::time::sleep(backoff).await;
                    continue;
                }
                Some(Err(e)) => return Err(e),
            };
            backoff = Duration::ZERO;
            // Best effort, as Go: a socket that refuses still serves.
            let _ = stream.set_nodelay(true);
            let stream = Arc::new(stream);
            let deadlines = Arc::new(Deadlines {
                stream: stream.clone(),
                state: AtomicU8::new(HEADER),
                header: header_read_timeout,
                idle: idle_timeout,
            });
            deadlines.set(header_read_timeout);
            // Registered before the task is spawned, so a shutdown that
            // starts before its first poll still finds it.
            let id = shared.register(stream);
            drop(crate::spawn(connection(
                shared.clone(),
                id,
                deadlines,
                service.clone(),
            )));
        }
        // Stop accepting: close the listening socket now, not when the
        // drain is over (Go's Shutdown closes the listeners first).
        drop(listener);
        for waker in shared.start_shutdown() {
            waker.wake();
        }
        let drained = poll_fn(|cx| {
            let mut st = shared.lock();
            if st.conns.is_empty() {
                Poll::Ready(())
            } else {
                st.drained = Some(cx.waker().clone());
                Poll::Pending
            }
        });
        if crate::time::timeout(shutdown_timeout, drained)
            .await
            .is_ok()
        {
            return Ok(());
        }
        // Out of time: close what is left. Closing wakes the reads and
        // writes waiting on those sockets, so their tasks end promptly.
        let left: Vec<Arc<TcpStream>> = shared
            .lock()
            .conns
            .values()
            .map(|c| c.stream.clone())
            .collect();
        for s in &left {
            let _ = s.close();
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "graceful shutdown timed out; closed {} connection(s)",
                left.len()
            ),
        ))
    }
}

/// Serves one connection until it ends, starting hyper's graceful
/// shutdown on it when the server shuts down.
async fn connection<S, B>(shared: Arc<Shared>, id: u64, deadlines: Arc<Deadlines>, service: S)
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let _registered = Registered {
        shared: &shared,
        id,
    };
    let io = ConnIo {
        deadlines: deadlines.clone(),
    };
    let service = Tracked {
        inner: service,
        deadlines,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The deadlines above replace hyper's own header timer: hyper's runs
    // from the start of every wait for a request, idle time included, so
    // it could not tell idle (60 s) from a slow header (10 s).
    builder.header_read_timeout(None);
    let mut conn = pin!(builder.serve_connection(io, service).with_upgrades());
    let mut told = false;
    // Errors (a deadline passed, the peer reset) end the connection; there
    // is no one to report them to, as with Go's http.Server (which logs).
    let _ = poll_fn(|cx| {
        if !told && shared.watch(id, cx.waker()) {
            told = true;
            conn.as_mut().graceful_shutdown();
        }
        conn.as_mut().poll(cx)
    })
    .await;
}

/// Whether an accept error passes by itself (Go's `Temporary()` errors
/// in `http.Server.Serve`): out of fds, buffers or memory.
fn is_temporary(e: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(e),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    )
}

/// The server's connections, for shutdown.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    shutting_down: bool,
    next_id: u64,
    conns: HashMap<u64, Conn>,
    /// The server's future, waiting for `conns` to empty.
    drained: Option<Waker>,
}

struct Conn {
    stream: Arc<TcpStream>,
    /// The connection's task, to wake when shutdown starts.
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics with the lock held, but a poisoned lock still
        // holds consistent state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, stream: Arc<TcpStream>) -> u64 {
        let mut st = self.lock();
        let id = st.next_id;
        st.next_id += 1;
        st.conns.insert(
            id,
            Conn {
                stream,
                waker: None,
            },
        );
        id
    }

    /// Whether shutdown has started; if not, remembers `waker` to wake
    /// when it does.
    fn watch(&self, id: u64, waker: &Waker) -> bool {
        let mut st = self.lock();
        if st.shutting_down {
            return true;
        }
        if let Some(c) = st.conns.get_mut(&id) {
            match &c.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => c.waker = Some(waker.clone()),
            }
        }
        false
    }

    /// Marks shutdown started; returns the wakers to wake, to be woken
    /// with the lock released.
    fn start_shutdown(&self) -> Vec<Waker> {
        let mut st = self.lock();
        st.shutting_down = true;
        st.conns
            .values_mut()
            .filter_map(|c| c.waker.take())
            .collect()
    }
}

/// Unregisters a connection when its task ends, however it ends.
struct Registered<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let waker = {
            let mut st = self.shared.lock();
            st.conns.remove(&self.id);
            if st.conns.is_empty() {
                st.drained.take()
            } else {
                None
            }
        };
        // Woken with the lock released: the server's future may run at
        // once on another worker and take it.
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Reading a request's header: the header deadline is set.
const HEADER: u8 = 0;
/// A request is being served: no read deadline.
const BUSY: u8 = 1;
/// Waiting for the next request: the idle deadline is set.
const IDLE: u8 = 2;
/// Taken over by an upgrade: no deadlines any more.
const UPGRADED: u8 = 3;

/// One connection's read deadline, moved along as Go's `http.conn` does:
/// header deadline while a header is read, none while a request is
/// served, idle deadline between requests.
///
/// The transitions come from the connection's reads (`ConnIo`), the
/// service call and the response body's drop (`Tracked`), all on the
/// connection's task, hence plain atomics; the compare-exchanges keep a
/// late body drop from re-arming a deadline on an upgraded connection.
struct Deadlines {
    stream: Arc<TcpStream>,
    state: AtomicU8,
    header: Option<Duration>,
    idle: Option<Duration>,
}

impl Deadlines {
    fn set(&self, after: Option<Duration>) {
        let at = after.and_then(|d| Instant::now().checked_add(d));
        // Fails only on a closed socket, whose reads fail anyway.
        let _ = self.stream.set_read_deadline(at);
    }

    fn transition(&self, from: u8, to: u8, after: Option<Duration>) {
        if self
            .state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.set(after);
        }
    }

    /// The service is called: the header is in.
    fn request(&self) {
        // From HEADER or IDLE (a pipelined request hyper had buffered).
        let prev = self.state.swap(BUSY, Ordering::AcqRel);
        if prev == UPGRADED {
            self.state.store(UPGRADED, Ordering::Release);
        } else {
            self.set(None);
        }
    }

    /// The response body is done with: idle until the next request.
    fn response_done(&self) {
        self.transition(BUSY, IDLE, self.idle);
    }

    /// Bytes of the next request arrived.
    fn header_started(&self) {
        self.transition(IDLE, HEADER, self.header);
    }

    fn upgraded(&self) {
        self.state.store(UPGRADED, Ordering::Release);
        self.set(None);
    }
}

/// The connection's I/O: the stream, noticing the first bytes of a
/// request after idle.
struct ConnIo {
    deadlines: Arc<Deadlines>,
}

impl hyper::rt::Read for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let res = hyper::rt::Read::poll_read(Pin::new(&mut &*self.deadlines.stream), cx, buf);
        // hyper's cursor does not say how much was read, but a read that
        // succeeds has bytes unless it is EOF, and arming the header
        // deadline on a connection at EOF is harmless.
        if matches!(res, Poll::Ready(Ok(()))) {
            self.deadlines.header_started();
        }
        res
    }
}

impl hyper::rt::Write for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut &*self.deadlines.stream), cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write_vectored(Pin::new(&mut &*self.deadlines.stream), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        hyper::rt::Write::is_write_vectored(&&*self.deadlines.stream)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut &*self.deadlines.stream), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut &*self.deadlines.stream), cx)
    }
}

/// The user's service, moving the connection's deadlines along.
struct Tracked<S> {
    inner: S,
    deadlines: Arc<Deadlines>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.deadlines.request();
        let fut = self.inner.call(req);
        let deadlines = self.deadlines.clone();
        Box::pin(async move {
            let res = fut.await?;
            if res.status() == StatusCode::SWITCHING_PROTOCOLS {
                deadlines.upgraded();
            }
            Ok(res.map(|body| TrackedBody {
                inner: Box::pin(body),
                done: Some(deadlines),
            }))
        })
    }
}

/// A response body that starts the idle deadline when hyper is done
/// with it (written out, or dropped on an error). Boxed rather than
/// pin-projected: compat/ has no unsafe code.
struct TrackedBody<B> {
    inner: Pin<Box<B>>,
    done: Option<Arc<Deadlines>>,
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.inner.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for TrackedBody<B> {
    fn drop(&mut self) {
        if let Some(d) = self.done.take() {
            d.response_done();
        }
    }
}
