"""The fixture writer checked against itself: every fixture is generated through the command
line, read back with goreader.py (an independent reader applying the Go system's load rules)
and compared with the expected JSON written next to it."""

import filecmp
import json
import os
import random
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import goreader  # noqa: E402
import gomodel  # noqa: E402  (its snappy encoder, checked against goreader's decoder)

WRITER = os.path.join(HERE, "gowriter.py")
NAMES = [line.split()[0] for line in subprocess.check_output([sys.executable, WRITER, "--list"], text=True).splitlines()]


@pytest.fixture(scope="session")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("gofixtures")
    subprocess.check_call([sys.executable, WRITER, "--out", str(d)])
    return str(d)


def expected(out, name):
    with open(os.path.join(out, name + ".json")) as f:
        return json.load(f)


def as_view(keys):
    return {bytes.fromhex(k["key_hex"]): (bytes.fromhex(k["value_hex"]), k["expires_unix_nano"]) for k in keys}


def now_ns():
    return time.time_ns()


def test_every_fixture_is_listed_and_written(out):
    assert len(NAMES) == len(set(NAMES)) >= 12
    for n in NAMES:
        assert os.path.isdir(os.path.join(out, n, "data")) or n == "merge-crash-renamed"
        assert expected(out, n)["name"] == n


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("path", ["hints", "data"])
def test_the_go_load_paths_give_the_expected_keys(out, name, path):
    fx = expected(out, name)
    o = fx["open_options"]
    kind, got = goreader.go_open(os.path.join(out, name), o["file_id_width"], o["hint_files"], path == "data", now_ns())
    want = fx["go_open"][path]
    if want == "corrupt":
        assert kind == "corrupt"
        assert [got.name, got.offset] == [fx["damage"][0]["file"], fx["damage"][0]["offset"]]
        return
    assert kind == "keys", got
    if want == "keys":
        assert got == as_view(fx["keys"])
    elif want == "empty":
        assert got == {}
    else:
        assert got == as_view(want["keys"])


@pytest.mark.parametrize("name", NAMES)
def test_the_log_order_rule_gives_the_expected_keys(out, name):
    """`keys` is what adopt must produce: the Go rules over the data files (for the torn fixture,
    over the records around the damaged range; for an interrupted Go merge, over the generation
    that holds the committed data)."""
    fx = expected(out, name)
    root = os.path.join(out, name)
    if fx["state"] == "damaged":
        records = salvage(root, fx["damage"])
    elif not os.path.isdir(os.path.join(root, "data")):
        records = goreader.all_records(root, "data.old")
    else:
        records = goreader.all_records(root)
    assert goreader.log_view(records, now_ns()) == as_view(fx["keys"])


def salvage(root, damage):
    """Records of a damaged fixture with the damaged ranges skipped, checking that the ranges
    skipped are the ones the fixture declares."""
    data_dir = os.path.join(root, "data")
    out, skipped = [], []
    for fid, name in goreader.data_files(data_dir).items():
        records, ranges = goreader.scan_salvage(data_dir, fid, name)
        out += records
        skipped += [{"file": name, "offset": o, "length": n} for o, n in ranges]
    assert skipped == damage
    return out


@pytest.mark.parametrize("name", NAMES)
def test_recency_by_stamp_differs_exactly_where_the_fixture_says(out, name):
    fx = expected(out, name)
    root = os.path.join(out, name)
    if fx["state"] != "clean":
        return
    records = goreader.all_records(root)
    by_log, by_stamp = goreader.log_view(records, now_ns()), goreader.stamp_view(records, now_ns())
    differs = sorted(k for k in set(by_log) | set(by_stamp) if by_log.get(k) != by_stamp.get(k))
    assert differs == sorted(bytes.fromhex(k["key_hex"]) for k in fx.get("recency_by_stamp_differs", []))


@pytest.mark.parametrize("name", NAMES)
def test_the_markers_found_are_the_markers_declared(out, name):
    assert goreader.markers(os.path.join(out, name)) == set(expected(out, name)["markers"])


def test_no_fixture_depends_on_the_time_it_is_read(out):
    """Every expiry is either long past or in 2126, so the expected sets never go stale."""
    for name in NAMES:
        fx = expected(out, name)
        for r in goreader.all_records(os.path.join(out, name)) if fx["state"] == "clean" else []:
            assert r.expires == 0 or r.expires < fx["written_at_unix_nano"] or r.expires > 4 * 10**18


def test_records_follow_the_go_layout(out):
    """Reserved bytes zero, only flag bits 0 and 1, codec 1 exactly when compressed, empty
    tombstones without expiry, and compression applied from 256 bytes on, larger or not."""
    seen_larger = False
    for name in NAMES:
        fx = expected(out, name)
        if fx["state"] != "clean":
            continue
        compression = fx["open_options"]["compression"] == "snappy"
        for r in goreader.all_records(os.path.join(out, name)):
            assert r.reserved == 0 and r.flags & ~3 == 0
            assert (r.codec == 1) == bool(r.flags & 2)
            if r.deleted:
                assert (r.stored, r.expires, r.flags) == (b"", 0, 1)
                continue
            assert bool(r.flags & 2) == (compression and len(r.value()) >= 256), (name, r.key)
            seen_larger |= bool(r.flags & 2) and len(r.stored) > len(r.value())
    assert seen_larger


def test_the_snappy_fixture_uses_every_element_kind(out):
    kinds = {}
    for r in goreader.all_records(os.path.join(out, "snappy")):
        if r.flags & 2:
            for k, n in goreader.snappy_elements(r.stored).items():
                kinds[k] = kinds.get(k, 0) + n
    assert all(kinds[k] > 0 for k in ("literal", "long-literal", "copy1", "copy2", "copy4")), kinds


def test_go_hint_files_have_an_entry_per_record_and_one_for_the_active_file(out):
    root = os.path.join(out, "basic-hints", "data")
    files = goreader.data_files(root)
    for fid, name in files.items():
        hinted = goreader.read_hints(root, fid, 9)
        assert [(r.offset, r.key) for r in hinted] == [(r.offset, r.key) for r in goreader.scan(root, fid, name)]
    assert max(files) > 1


def test_a_transaction_commit_writes_hint_flags_that_do_not_match(out):
    """Txn.Commit's hint entry carries the flags from before compression: the Go hint path
    rejects that file and scans the data instead."""
    root = os.path.join(out, "out-of-order", "data")
    rejected = [fid for fid in goreader.data_files(root) if goreader.read_hints(root, fid, 9) is None]
    assert len(rejected) == 1


def test_the_merge_output_is_in_key_order_from_file_one_without_meta(out):
    root = os.path.join(out, "merge-after")
    records = goreader.all_records(root)
    assert [r.key for r in records] == sorted(r.key for r in records)
    assert min(goreader.data_files(os.path.join(root, "data"))) == 1
    assert not os.path.exists(os.path.join(root, "data", "bitgask.meta"))
    assert not os.path.exists(os.path.join(root, "data.old")) and not os.path.exists(os.path.join(root, "merge.tmp"))


def test_the_go_meta_layout(out):
    text = open(os.path.join(out, "basic-hints", "data", "bitgask.meta"), "rb").read()
    assert text == b'{\n  "version": 1,\n  "created": "2026-01-01T00:00:00.000001Z"\n}'
    text = open(os.path.join(out, "merge-reopened", "data", "bitgask.meta"), "rb").read()
    assert json.loads(text)["created"].endswith("+02:00")


def test_writing_twice_gives_the_same_bytes(out, tmp_path):
    subprocess.check_call([sys.executable, WRITER, "--out", str(tmp_path), "snappy", "merge-after-appended"])
    for name in ("snappy", "merge-after-appended"):
        cmp = filecmp.dircmp(os.path.join(out, name), str(tmp_path / name))
        assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
        assert filecmp.cmp(os.path.join(out, name + ".json"), str(tmp_path / (name + ".json")), shallow=False)


def test_an_unknown_fixture_name_is_refused(tmp_path):
    r = subprocess.run([sys.executable, WRITER, "--out", str(tmp_path), "no-such"], capture_output=True, text=True)
    assert r.returncode == 2 and "no-such" in r.stderr


# Bytes the Go system's encoder (github.com/golang/snappy) wrote for 300 'x' and for
# "bitgask record value " * 40, taken from a directory the real Go bitgask wrote.
GO_SNAPPY = [
    (b"x" * 300, "ac020078fe0100fe0100fe0100fe0100aa0100"),
    (
        b"bitgask record value " * 40,
        "c806506269746761736b207265636f72642076616c756520fe1500fe1500fe1500fe1500fe1500fe1500fe1500fe1500"
        "fe1500fe1500fe1500fe1500ca1500",
    ),
]


@pytest.mark.parametrize("plain,encoded", GO_SNAPPY)
def test_the_reader_decodes_what_the_go_encoder_wrote(plain, encoded):
    assert goreader.snappy_decode(bytes.fromhex(encoded)) == plain


def test_the_writer_snappy_encoder_round_trips_through_the_independent_decoder():
    rnd = random.Random(7)
    samples = [b"", b"a", b"ab" * 3, bytes(70000) + b"x", rnd.randbytes(5000)]
    samples += [bytes(rnd.choice(b"abc") for _ in range(rnd.randrange(1, 3000))) for _ in range(40)]
    for s in samples:
        for kw in ({}, {"literal_only": True}, {"long_offsets": True}):
            assert goreader.snappy_decode(gomodel.snappy_encode(s, **kw)) == s


@pytest.mark.parametrize("bad", ["", "05", "0400", "0a0c05", "02080001"])
def test_the_reader_refuses_bad_snappy(bad):
    with pytest.raises((ValueError, IndexError)):
        goreader.snappy_decode(bytes.fromhex(bad))
