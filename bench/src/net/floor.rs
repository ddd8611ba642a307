//! The floor: an echo server written straight on epoll, one thread, no
//! runtime, no tasks, no wakers. Edge-triggered (level-triggered epoll
//! re-checks every ready fd on the next wait), one shared buffer, and per
//! readable event one `recv` and one `send`: a short `recv` has emptied
//! the socket, and new data brings a new edge, so no `recv` is spent on
//! EAGAIN. What any runtime's echo costs at the least on this kernel.

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags, SocketFlags};
use std::io;
use std::net::TcpListener;
use std::os::fd::OwnedFd;

/// The listener's key in the epoll set; connections are keyed by their
/// slot in the connection table.
const LISTENER: u64 = u64::MAX;

/// Serves echo on a free loopback port until the process exits.
pub fn serve(announce: impl FnOnce(std::net::SocketAddr)) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    announce(listener.local_addr()?);
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    epoll::add(&ep, &listener, EventData::new_u64(LISTENER), EventFlags::IN)?;

    // Open connections by slot; freed slots are reused.
    let mut conns: Vec<Option<OwnedFd>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    loop {
        events.clear();
        match epoll::wait(&ep, spare_capacity(&mut events), None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        for ev in &events {
            let key = ev.data.u64();
            if key == LISTENER {
                accept_all(&listener, &ep, &mut conns, &mut free)?;
                continue;
            }
            let slot = key as usize;
            let Some(fd) = &conns[slot] else { continue };
            let done = loop {
                match rustix::net::recv(fd, &mut buf[..], RecvFlags::empty()) {
                    Ok((0, _)) => break true,
                    Ok((n, _)) => {
                        if send_all(fd, &buf[..n]).is_err() {
                            break true;
                        }
                        if n < buf.len() {
                            break false; // emptied: wait for the next edge
                        }
                    }
                    Err(Errno::INTR) => {}
                    Err(Errno::AGAIN) => break false,
                    Err(_) => break true,
                }
            };
            if done {
                // Dropping the fd closes it, which also leaves the epoll set.
                conns[slot] = None;
                free.push(slot);
            }
        }
    }
}

/// Accepts every pending connection into the table and the epoll set.
fn accept_all(
    listener: &TcpListener,
    ep: &OwnedFd,
    conns: &mut Vec<Option<OwnedFd>>,
    free: &mut Vec<usize>,
) -> io::Result<()> {
    loop {
        let fd = match rustix::net::accept_with(
            listener,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        ) {
            Ok(fd) => fd,
            Err(Errno::AGAIN) => return Ok(()),
            Err(Errno::INTR | Errno::CONNABORTED) => continue,
            Err(e) => return Err(e.into()),
        };
        rustix::net::sockopt::set_tcp_nodelay(&fd, true)?;
        let slot = free.pop().unwrap_or_else(|| {
            conns.push(None);
            conns.len() - 1
        });
        epoll::add(
            ep,
            &fd,
            EventData::new_u64(slot as u64),
            EventFlags::IN | EventFlags::ET,
        )?;
        conns[slot] = Some(fd);
    }
}

/// Sends all of `data`; if the socket buffer is full (never, for a
/// 64-byte ping-pong), waits in poll(2) for room.
fn send_all(fd: &OwnedFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::net::send(fd, data, SendFlags::NOSIGNAL) {
            Ok(n) => data = &data[n..],
            Err(Errno::AGAIN) => {
                let mut p = [rustix::event::PollFd::new(
                    fd,
                    rustix::event::PollFlags::OUT,
                )];
                rustix::event::poll(&mut p, None)?;
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
