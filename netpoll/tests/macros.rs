//! `#[netpoll::test]`. Its own test binary: the macro builds a runtime
//! before the body runs, so in a binary whose tests count fds and threads
//! those runtimes would show up in the counts of whichever test runs
//! alongside.

#[netpoll::test]
async fn the_test_macro_runs_on_a_current_thread_runtime() {
    let me = std::thread::current().id();
    let (v, on) = netpoll::spawn(async { (2, std::thread::current().id()) })
        .await
        .unwrap();
    assert_eq!(v, 2);
    assert_eq!(
        on, me,
        "a current-thread runtime runs tasks on its own thread"
    );
}

#[netpoll::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_macro_takes_a_flavour() {
    let me = std::thread::current().id();
    let other = netpoll::spawn(async { std::thread::current().id() })
        .await
        .unwrap();
    assert_ne!(me, other, "tasks run on workers, not the block_on thread");
}

/// Set when the task `a_main_with_a_stuck_blocking_job` left is dropped.
static DROPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// What `#[netpoll::main]` writes, on a fn of our own: a blocking job
/// still running when the body returns (a read of stdin, here a long
/// sleep) does not keep it from returning, and the tasks are cancelled.
#[netpoll::main(worker_threads = 2)]
async fn a_main_with_a_stuck_blocking_job() -> u32 {
    netpoll::spawn_blocking(|| std::thread::sleep(std::time::Duration::from_secs(20)));
    struct Flag;
    impl Drop for Flag {
        fn drop(&mut self) {
            DROPPED.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    netpoll::spawn(async move {
        let _flag = Flag;
        std::future::pending::<()>().await
    });
    netpoll::time::sleep(std::time::Duration::from_millis(20)).await;
    7
}

#[test]
fn the_main_macro_does_not_wait_for_blocking_jobs() {
    let start = std::time::Instant::now();
    assert_eq!(a_main_with_a_stuck_blocking_job(), 7);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "main waited {:?} for a blocking job",
        start.elapsed()
    );
    assert!(
        DROPPED.load(std::sync::atomic::Ordering::SeqCst),
        "a task was not cancelled"
    );
}
