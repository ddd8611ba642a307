//! The load for the echo, idle and syscalls suites: one thread, raw
//! epoll, a closed loop of 64-byte round trips with one message in
//! flight per connection. It depends on no runtime, so every server is
//! loaded by exactly the same code, and it only talks to loopback.

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::io::Errno;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// The message size of a round trip.
pub const MSG: usize = 64;

/// The message every connection sends.
const PING: [u8; MSG] = [b'x'; MSG];

/// How long the server may leave every connection unanswered before the
/// client gives up on it.
const STALL: Duration = Duration::from_secs(5);

/// When [`Client::drive`] stops.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// After this long.
    After(Duration),
    /// After this many round trips.
    Count(u64),
}

/// Connections to one server, driven from the calling thread.
pub struct Client {
    ep: OwnedFd,
    conns: Vec<Conn>,
    events: Vec<epoll::Event>,
    /// Whether each connection has its message in flight yet.
    started: bool,
}

/// One connection and how much of its current echo has come back.
struct Conn {
    sock: TcpStream,
    got: usize,
}

impl Client {
    /// Opens `n` connections to `addr`, which must be a loopback address.
    /// Each does one blocking round trip before the next is opened, so
    /// the server has accepted and served every one of them (and no
    /// burst of connects can overflow its accept queue).
    pub fn connect(addr: SocketAddr, n: usize) -> io::Result<Client> {
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the bench client only talks to loopback, not {addr}"),
            ));
        }
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let mut conns = Vec::with_capacity(n);
        let mut echo = [0u8; MSG];
        for i in 0..n {
            let mut sock = TcpStream::connect(addr)?;
            sock.set_nodelay(true)?;
            sock.set_read_timeout(Some(STALL))?;
            sock.write_all(&PING)?;
            sock.read_exact(&mut echo)?;
            sock.set_nonblocking(true)?;
            epoll::add(&ep, &sock, EventData::new_u64(i as u64), EventFlags::IN)?;
            conns.push(Conn { sock, got: 0 });
        }
        Ok(Client {
            ep,
            conns,
            events: Vec::with_capacity(1024),
            started: false,
        })
    }

    /// Runs round trips on every connection until `stop`, one message in
    /// flight on each (a new one is sent as soon as its echo is back), and
    /// returns how many completed. Messages still in flight at the stop
    /// carry over to the next call.
    pub fn drive(&mut self, stop: Stop) -> io::Result<u64> {
        if !self.started {
            for c in &mut self.conns {
                c.sock.write_all(&PING)?;
            }
            self.started = true;
        }
        let start = Instant::now();
        let mut last_progress = start;
        let mut done = 0u64;
        let timeout = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        };
        loop {
            let now = Instant::now();
            match stop {
                Stop::After(d) if now - start >= d => return Ok(done),
                Stop::Count(n) if done >= n => return Ok(done),
                _ => {}
            }
            if now - last_progress > STALL {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the server answered nothing for 5 s",
                ));
            }
            self.events.clear();
            match epoll::wait(&self.ep, spare_capacity(&mut self.events), Some(&timeout)) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            if !self.events.is_empty() {
                last_progress = now;
            }
            for ev in &self.events {
                let conn = &mut self.conns[ev.data.u64() as usize];
                if conn.read_echo()? {
                    done += 1;
                    conn.sock.write_all(&PING)?;
                }
            }
        }
    }
}

impl Conn {
    /// Reads what has come back; true once the whole echo has.
    fn read_echo(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; MSG];
        match self.sock.read(&mut buf[..MSG - self.got]) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed a connection",
            )),
            Ok(n) => {
                self.got += n;
                let whole = self.got == MSG;
                if whole {
                    self.got = 0;
                }
                Ok(whole)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Client {
    /// Resets every connection rather than closing it: no TIME_WAIT is
    /// left behind, so thousands of connections per sample never run the
    /// loopback ports short.
    fn drop(&mut self) {
        for c in &self.conns {
            let _ = rustix::net::sockopt::set_socket_linger(&c.sock, Some(Duration::ZERO));
        }
    }
}

/// `netpoll-bench load <addr> <conns> <secs> [cpu]`: drives a server
/// started by hand (`netpoll-bench serve …`) and prints its round trips
/// per second, to profile or trace one server alone.
pub fn main(args: &[String]) -> io::Result<()> {
    let usage = || io::Error::other("usage: netpoll-bench load <addr> <conns> <secs> [cpu]");
    let (addr, conns, secs, cpu) = match args {
        [a, c, s] => (a, c, s, None),
        [a, c, s, cpu] => (a, c, s, Some(cpu.parse().map_err(|_| usage())?)),
        _ => return Err(usage()),
    };
    let addr: SocketAddr = addr.parse().map_err(|_| usage())?;
    let conns: usize = conns.parse().map_err(|_| usage())?;
    let secs: f64 = secs.parse().map_err(|_| usage())?;
    super::pin_thread(cpu)?;
    let mut client = Client::connect(addr, conns)?;
    let start = Instant::now();
    let trips = client.drive(Stop::After(Duration::from_secs_f64(secs)))?;
    println!(
        "{trips} round trips, {:.0}/s",
        trips as f64 / start.elapsed().as_secs_f64()
    );
    Ok(())
}
