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
