//! Recognition on hand-made directories (the Go system's own layouts are tested with the fixture
//! writer in tests/go_fixtures.rs).

use std::fs;
use std::path::Path;

use super::*;
use crate::format::meta::Meta;
use crate::testutil::TempDir;

const GO_META: &[u8] = b"{\n  \"version\": 1,\n  \"created\": \"2026-01-01T00:00:00.25Z\"\n}";
const LEGACY_META: &[u8] = b"{\"version\": 1, \"created\": \"2026-01-01T00:00:00Z\"}\n";

fn put(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

fn names(o: Ownership) -> Vec<&'static str> {
    match o {
        Ownership::Foreign(m) => m.into_iter().map(|m| m.name).collect(),
        other => panic!("not foreign: {other:?}"),
    }
}

#[test]
fn an_empty_or_missing_root_is_ours() {
    let t = TempDir::new("foreign-empty");
    assert_eq!(recognise(t.path()).unwrap(), Ownership::Ours);
    assert_eq!(recognise(&t.path().join("nope")).unwrap(), Ownership::Ours);
}

#[test]
fn our_meta_and_our_older_meta_are_ours() {
    let t = TempDir::new("foreign-ours");
    put(t.path(), "data/bitgask.meta", &Meta::new(0).encode());
    put(t.path(), "data/000000001.data", b"");
    assert_eq!(recognise(t.path()).unwrap(), Ownership::Ours);
    put(t.path(), "data/bitgask.meta", LEGACY_META);
    assert_eq!(recognise(t.path()).unwrap(), Ownership::Ours);
}

#[test]
fn the_go_meta_layout_is_foreign() {
    let t = TempDir::new("foreign-meta");
    put(t.path(), "data/bitgask.meta", GO_META);
    assert_eq!(names(recognise(t.path()).unwrap()), ["go-meta-layout"]);
}

#[test]
fn go_hints_empty_hints_and_other_widths_are_foreign() {
    let t = TempDir::new("foreign-hints");
    put(t.path(), "data/bitgask.meta", GO_META);
    put(t.path(), "data/000001.data", b"");
    put(t.path(), "data/000001.hint", b"");
    put(t.path(), "data/000002.data", b"x");
    put(t.path(), "data/000002.hint", b"\x03\0\0\0abc");
    let got = names(recognise(t.path()).unwrap());
    assert_eq!(got, ["empty-hint", "file-id-width", "file-id-width", "go-hint-layout", "go-meta-layout"]);
}

#[test]
fn data_without_meta_is_foreign_unless_a_bitgask_file_is_there() {
    let t = TempDir::new("foreign-nometa");
    put(t.path(), "data/000000001.data", b"x");
    assert_eq!(names(recognise(t.path()).unwrap()), ["no-meta"]);
    // A bitgask directory that lost its meta: open's own check reports it as damage.
    put(t.path(), "data/000000001.hint", b"BGKHINT\0rest");
    assert_eq!(recognise(t.path()).unwrap(), Ownership::Ours);
}

#[test]
fn the_watermark_file_is_ours() {
    let t = TempDir::new("foreign-watermark");
    put(t.path(), "data/000000001.data", b"x");
    put(t.path(), "data/000000001.hint", b"");
    assert_eq!(names(recognise(t.path()).unwrap()), ["empty-hint", "no-meta"]);
    // A bitgask directory that lost its meta, with an empty hint (damage, not a Go sign).
    put(t.path(), "data/bitgask.watermark", b"any bytes");
    assert_eq!(recognise(t.path()).unwrap(), Ownership::Ours);
}

#[test]
fn the_reserve_file_at_the_root_is_ours() {
    let t = TempDir::new("foreign-reserve");
    put(t.path(), "data/000000001.data", b"x");
    put(t.path(), "data/000000001.hint", b"");
    assert_eq!(names(recognise(t.path()).unwrap()), ["empty-hint", "no-meta"]);
    // In data/ it is no sign (only the root's is bitgask's).
    put(t.path(), "data/bitgask.reserve", b"\0\0\0\0");
    assert_eq!(names(recognise(t.path()).unwrap()), ["empty-hint", "no-meta"]);
    put(t.path(), "bitgask.reserve", b"\0\0\0\0");
    assert_eq!(recognise(t.path()).unwrap(), Ownership::Ours);
}

#[test]
fn damaged_hints_in_our_directory_are_damage_but_other_widths_are_foreign() {
    let t = TempDir::new("foreign-mixed");
    put(t.path(), "data/bitgask.meta", &Meta::new(0).encode());
    put(t.path(), "data/000000002.data", b"");
    put(t.path(), "data/000000002.hint", b"");
    put(t.path(), "data/000000003.hint", b"garbage!");
    assert_eq!(recognise(t.path()).unwrap(), Ownership::Ours);
    put(t.path(), "data/bitgask.meta", LEGACY_META);
    assert_eq!(recognise(t.path()).unwrap(), Ownership::Ours);
    put(t.path(), "data/000004.data", b"");
    assert_eq!(names(recognise(t.path()).unwrap()), ["file-id-width"]);
}

#[test]
fn interrupted_go_merges_are_foreign() {
    let t = TempDir::new("foreign-merge");
    put(t.path(), "data.old/000000001.data", b"x");
    put(t.path(), "data.old/bitgask.meta", GO_META);
    put(t.path(), "merge.tmp/000000001.data", b"x");
    let mut got = names(recognise(t.path()).unwrap());
    got.sort();
    assert_eq!(got, ["go-data-old", "go-merge-tmp", "go-meta-layout", "no-data-dir"]);
}

#[test]
fn our_own_interrupted_merge_is_ours() {
    let t = TempDir::new("foreign-ourmerge");
    put(t.path(), "data/bitgask.meta", &Meta::new(0).encode());
    put(t.path(), "data/000000001.data", b"x");
    put(t.path(), "merge.tmp/000000002.data", b"x");
    put(t.path(), "merge.tmp/000000002.hint", b"BGKHINT\0rest");
    assert_eq!(recognise(t.path()).unwrap(), Ownership::Ours);
}

#[test]
fn adopt_tmp_means_an_interrupted_adoption() {
    let t = TempDir::new("foreign-adopt");
    put(t.path(), "adopt.tmp/x", b"");
    assert_eq!(recognise(t.path()).unwrap(), Ownership::AdoptInterrupted);
}

#[test]
fn the_refusal_names_what_was_found_and_the_command() {
    let m = vec![
        marker("empty-hint", "data/000001.hint", "an empty hint file"),
        marker("empty-hint", "data/000002.hint", "an empty hint file"),
    ];
    let e = refusal(Path::new("/db"), &m);
    assert_eq!(e.status(), crate::status::E_FORMAT_VERSION);
    let text = e.to_string();
    assert!(text.contains("data/000001.hint: an empty hint file (and 1 more)"), "{text}");
    assert!(text.contains("bitgask adopt --dir /db"), "{text}");
}
