//! The task dump: every live task of a runtime with its id, name, spawn
//! location, state and, where netpoll knows, what it waits for (Go: the
//! goroutine dump printed on SIGQUIT; tokio's task dump is unstable-only).

use super::task::{self, TaskMeta};
use crate::waits::{self, Wait};
use std::fmt;
use std::time::Instant;

/// A snapshot of a runtime's live tasks, from
/// [`Handle::dump`](super::Handle::dump). Print it with `{}`: one line per task, in id
/// order, such as
///
/// ```text
/// task 12 "conn" waiting: fd 9 readable, spawned at src/server.rs:40:9
/// task 13 running, spawned at src/server.rs:52:5
/// task 14 waiting: timer due in 4.996s, spawned at src/tick.rs:8:5
/// ```
///
/// Taken without stopping the runtime: each task's state is read as it
/// is at that moment, so a busy runtime's dump is a blur, as Go's is.
///
/// # Example
///
/// ```
/// let rt = netpoll::runtime::Runtime::new()?;
/// rt.spawn(netpoll::time::sleep(std::time::Duration::from_secs(5)));
/// std::thread::sleep(std::time::Duration::from_millis(20));
/// let dump = rt.handle().dump();
/// assert_eq!(dump.tasks().len(), 1);
/// println!("{dump}");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Dump {
    tasks: Vec<TaskDump>,
    taken: Instant,
}

/// One task of a [`Dump`].
#[derive(Clone, Debug)]
pub struct TaskDump {
    id: u64,
    name: Option<Box<str>>,
    location: &'static std::panic::Location<'static>,
    state: u8,
    wait: Wait,
}

impl TaskDump {
    /// The task's id ([`crate::task::Id`]'s number).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The name it was spawned with (`task::Builder::name`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where it was spawned.
    pub fn location(&self) -> &'static std::panic::Location<'static> {
        self.location
    }

    /// `"waiting"`, `"ready"` (in a run queue), `"running"` or `"done"`.
    pub fn state(&self) -> &'static str {
        match self.state {
            task::WAITING => "waiting",
            task::SCHEDULED => "ready",
            task::RUNNING => "running",
            _ => "done",
        }
    }

    /// What it waits for, where netpoll knows: `"fd 9 readable"`,
    /// `"timer due in 1.2s"`, `"task 7"`, `"child 4242"`; `None` when
    /// it is not waiting or waits on something else (a channel, a lock).
    pub fn waits_for(&self, now: Instant) -> Option<String> {
        if self.state != task::WAITING {
            return None;
        }
        let Wait { kind, arg } = self.wait;
        Some(match kind {
            waits::FD => {
                let dir = if arg >> 32 & 1 == 1 {
                    "writable"
                } else {
                    "readable"
                };
                format!("fd {} {dir}", arg as u32 as i32)
            }
            waits::TIMER => {
                let due = waits::timer_deadline(arg);
                match due.checked_duration_since(now) {
                    Some(left) => format!("timer due in {left:.3?}"),
                    None => "timer due now".to_owned(),
                }
            }
            waits::TASK => format!("task {arg}"),
            waits::CHILD => format!("child {arg}"),
            _ => return None,
        })
    }
}

impl Dump {
    pub(crate) fn take(owned: &super::owned::OwnedTasks) -> Dump {
        let mut tasks = Vec::new();
        owned.for_each(|m: &TaskMeta| {
            tasks.push(TaskDump {
                id: m.id,
                name: m.name.clone(),
                location: m.location,
                state: m.state.load(std::sync::atomic::Ordering::Relaxed),
                wait: m.wait(),
            })
        });
        tasks.sort_by_key(|t| t.id);
        Dump {
            tasks,
            taken: Instant::now(),
        }
    }

    /// The tasks, in id order.
    pub fn tasks(&self) -> &[TaskDump] {
        &self.tasks
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "netpoll: {} live tasks", self.tasks.len())?;
        for t in &self.tasks {
            write!(f, "task {}", t.id)?;
            if let Some(name) = &t.name {
                write!(f, " {name:?}")?;
            }
            match t.waits_for(self.taken) {
                Some(on) => write!(f, " waiting: {on}")?,
                None => write!(f, " {}", t.state())?,
            }
            writeln!(f, ", spawned at {}", t.location)?;
        }
        Ok(())
    }
}
