//! Shows what a `directory` input becomes and what the library makes of it, step by step as
//! the target runs (without the target's assertions):
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example explain -- INPUT [KEEP_DIR]
//! ```
//!
//! With KEEP_DIR the directory is built there and kept for a look with `bitgask dump`.

use std::path::PathBuf;

use bitgask::internal::format::record::Record;
use bitgask::{Db, Report};
use bitgask_fuzz::DirCase;

fn show(what: &str, r: &Report) {
    println!("{what}: clean={} files={} records={} live_keys={}", r.clean(), r.files, r.records, r.live_keys);
    for p in &r.problems {
        println!(
            "    {} {} @{}+{}: {}{}",
            p.kind.name(),
            p.file,
            p.offset,
            p.length,
            p.message,
            if p.mended { " (mended)" } else { "" }
        );
    }
}

fn records(root: &std::path::Path) {
    for dir in ["data", "merge.tmp", "data.old"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else { continue };
        let mut names: Vec<_> = rd.map(|e| e.unwrap().path()).collect();
        names.sort();
        for p in names {
            let b = std::fs::read(&p).unwrap();
            println!("  {} ({} bytes)", p.strip_prefix(root).unwrap().display(), b.len());
            if p.extension().is_some_and(|e| e == "data") {
                let mut pos = 0;
                while pos < b.len() {
                    match Record::decode(&b[pos..]) {
                        Ok(r) => {
                            let h = r.header;
                            println!(
                                "    @{pos} key={:?} ts={} expires={} flags={} codec={} len={}",
                                String::from_utf8_lossy(r.key),
                                h.ts,
                                h.expires,
                                h.flags,
                                h.codec as u8,
                                h.record_len()
                            );
                            pos += h.record_len() as usize;
                        }
                        Err(bad) => {
                            println!("    @{pos} bad: {bad}");
                            pos += 1;
                            while pos < b.len() && Record::decode(&b[pos..]).is_err() {
                                pos += 1;
                            }
                        }
                    }
                }
            }
        }
    }
}

fn open(root: &std::path::Path, c: &DirCase, what: &str) {
    match Db::open(root, c.options()) {
        Ok(db) => {
            println!("{what}: open ok ({:?})", db.open_report());
            for kv in db.iter_prefix(b"").unwrap() {
                match kv {
                    Ok((k, v)) => println!("    {:?} = {:?}", String::from_utf8_lossy(&k), String::from_utf8_lossy(&v)),
                    Err(e) => println!("    read error: {e}"),
                }
            }
            println!("    close: {:?}", db.close());
        }
        Err(e) => println!("{what}: open failed: {e}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let c = DirCase::split(&std::fs::read(&args[1]).unwrap()).fixed();
    println!(
        "flags {:#04x} layout {} files present {:?}",
        c.flags,
        c.layout(),
        c.files.iter().map(|f| f.as_ref().map(|f| f.len())).collect::<Vec<_>>()
    );
    let root = args
        .get(2)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("bitgask-explain-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    c.write(&root);
    records(&root);
    show("validate", &bitgask::validate(&root).unwrap());
    open(&root, &c, "open");
    match bitgask::repair(&root, &c.options()) {
        Ok(r) => show("repair", &r),
        Err(e) => println!("repair failed: {e}"),
    }
    records(&root);
    show("validate after repair", &bitgask::validate(&root).unwrap());
    open(&root, &c, "open after repair");
    if args.len() < 3 {
        let _ = std::fs::remove_dir_all(&root);
    }
}
