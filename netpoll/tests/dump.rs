//! Task names, ids and the task dump. On both runtime flavours; the
//! poller backend comes from NETPOLL_POLLER.

mod common;

use common::flavours;
use netpoll::net::UnixStream;
use std::time::Duration;

#[test]
fn the_dump_names_each_task_and_what_it_waits_for() {
    for (name, rt) in flavours() {
        let (a, _b) = {
            let _enter = rt.handle().enter();
            UnixStream::pair().unwrap()
        };
        let dump = rt.block_on(async move {
            let reader = netpoll::task::Builder::new()
                .name("reader")
                .spawn(async move {
                    let _ = a.read(&mut [0; 8]).await;
                })
                .unwrap();
            let sleeper = netpoll::spawn(netpoll::time::sleep(Duration::from_secs(60)));
            let sleeper_id = netpoll::spawn(async { netpoll::task::id() }).await.unwrap();
            assert!(netpoll::task::try_id().is_none(), "block_on is not a task");
            let joiner = netpoll::spawn(async move {
                let _ = reader.await;
            });
            netpoll::time::sleep(Duration::from_millis(30)).await;
            let dump = netpoll::runtime::Handle::current().dump();
            sleeper.abort();
            joiner.abort();
            (dump, sleeper_id)
        });
        let (dump, other_id) = dump;
        let text = dump.to_string();
        assert_eq!(dump.tasks().len(), 3, "{name}: {text}");
        let reader = &dump.tasks()[0];
        assert_eq!(reader.name(), Some("reader"), "{name}: {text}");
        assert!(
            reader
                .waits_for(std::time::Instant::now())
                .unwrap()
                .contains("readable"),
            "{name}: {text}"
        );
        assert!(
            reader.location().file().ends_with("dump.rs"),
            "{name}: {text}"
        );
        assert!(text.contains("timer due in"), "{name}: {text}");
        assert!(
            text.contains(&format!("waiting: task {}", reader.id())),
            "{name}: the joiner waits on the reader: {text}"
        );
        assert!(other_id.as_u64() > reader.id(), "{name}: ids grow");
    }
}
