//! Group commit gathering on a slow disk (every fsync made 2 ms slower by the fault injector):
//! the leader waits for the writers the last round brought instead of syncing the first one or
//! two back, so the groups hold nearly every writer.

use std::sync::Arc;
use std::time::Duration;

use crate::storage::fault::{self, Op};
use crate::testutil::TempDir;
use crate::{Db, Options};

const SLOW: Duration = Duration::from_millis(2);

/// `threads` writers each doing `puts` durable puts; returns the fsyncs the workload took.
fn fsyncs_for(threads: usize, puts: usize) -> u64 {
    let dir = TempDir::new("gather");
    let db = Arc::new(Db::open(dir.path().join("db"), Options::default()).unwrap());
    db.put(b"warm", b"up").unwrap(); // the active file exists before counting starts
    fault::arm(dir.path(), None);
    fault::slow_fsyncs(dir.path(), SLOW);
    let writers: Vec<_> = (0..threads)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..puts {
                    db.put(format!("w{t}-{i}").as_bytes(), b"value").unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let counts = fault::disarm(dir.path());
    for t in 0..threads {
        assert_eq!(db.get(format!("w{t}-{}", puts - 1).as_bytes()).unwrap().as_deref(), Some(&b"value"[..]));
    }
    counts.get(&Op::Fsync).copied().unwrap_or(0)
}

#[test]
fn sixteen_writers_on_a_slow_disk_share_fsyncs_twelve_or_more_at_a_time() {
    let (threads, puts) = (16, 30);
    let syncs = fsyncs_for(threads, puts);
    let per_sync = (threads * puts) as f64 / syncs as f64;
    assert!(per_sync >= 12.0, "{per_sync:.2} puts per fsync ({syncs} fsyncs)");
}

#[test]
fn a_lone_writer_on_a_slow_disk_takes_one_fsync_per_put() {
    assert_eq!(fsyncs_for(1, 10), 10);
}
