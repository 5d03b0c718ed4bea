"""The Go bitgask's write path, modelled file by file (github.com/AfshinJalili/bitgask, the first
seed's system): its record, hint and meta encodings, a snappy raw-block encoder, and GoDB, which
appends, rotates, merges and commits transactions the way db.go and txn.go do. gowriter.py builds
the fixtures with it. Nothing here is shared with the Rust library; standard library only.

What the Go system does, and this model copies (paths are in the Go repository):
- db.go putWithTTL / Delete: the clock is read before the write lock is taken, so two writers
  can append records in the opposite order of their stamps. txn.go: a transaction stamps each
  entry when it is staged and appends them at commit in first-staged key order.
- The active file gets a hint entry per record (internal/index/hint.go: no magic, no CRC).
- db.go runMerge: writes merge.tmp/ with ids from 1 (key order, stamps and expiry kept, values
  re-compressed), renames data -> data.old, merge.tmp -> data, removes data.old. The new data/
  has no bitgask.meta until the next Open writes one.
- Snappy is applied to every value of at least CompressionThreshold bytes, even when the result
  is larger (internal/codec/codec.go, db.go encodeWithOptions).
"""

import os
import shutil
import struct
import zlib

# ---------------------------------------------------------------------------------------------
# Snappy raw block format (the format of github.com/golang/snappy Encode), written from its
# specification: a uvarint of the uncompressed length, then elements. The low two bits of an
# element's tag say its kind: 0 literal, 1 copy with an 11-bit offset and length 4..11, 2 copy
# with a 16-bit offset and length 1..64, 3 copy with a 32-bit offset and length 1..64.


def _uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _literal(chunk):
    n = len(chunk) - 1
    if n < 60:
        head = bytes([n << 2])
    elif n < 1 << 8:
        head = bytes([60 << 2, n])
    elif n < 1 << 16:
        head = bytes([61 << 2]) + struct.pack("<H", n)
    elif n < 1 << 24:
        head = bytes([62 << 2]) + struct.pack("<I", n)[:3]
    else:
        head = bytes([63 << 2]) + struct.pack("<I", n)
    return head + chunk


def _copy(offset, length, long_offsets):
    """Elements for a back-reference; `long_offsets` forces the 4-byte form."""
    out = bytearray()
    while length > 0:
        n = min(length, 64)
        # Leave at least 4 for the last piece so the short form stays usable.
        if 64 < length < 68:
            n = 60
        if not long_offsets and 4 <= n <= 11 and offset < 2048:
            out += bytes([1 | ((n - 4) << 2) | ((offset >> 8) << 5), offset & 0xFF])
        elif not long_offsets and offset < 1 << 16:
            out += bytes([2 | ((n - 1) << 2)]) + struct.pack("<H", offset)
        else:
            out += bytes([3 | ((n - 1) << 2)]) + struct.pack("<I", offset)
        length -= n
    return bytes(out)


def snappy_encode(src, literal_only=False, long_offsets=False):
    """A greedy snappy encoder: remembers the last position of every 4-byte sequence and
    extends matches as far as they go (overlapping copies included)."""
    out = bytearray(_uvarint(len(src)))
    last = {}
    lit_start = i = 0
    while i + 4 <= len(src):
        seq = src[i : i + 4]
        cand = None if literal_only else last.get(seq)
        last[seq] = i
        if cand is None:
            i += 1
            continue
        length = 4
        while i + length < len(src) and src[cand + length] == src[i + length]:
            length += 1
        if lit_start < i:
            out += _literal(src[lit_start:i])
        out += _copy(i - cand, length, long_offsets)
        for j in range(i + 1, min(i + length, len(src) - 3)):
            last[src[j : j + 4]] = j
        i += length
        lit_start = i
    if lit_start < len(src):
        out += _literal(src[lit_start:])
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# The Go system's files.

FLAG_DELETED = 1
FLAG_COMPRESSED = 2
CODEC_SNAPPY = 1
HEADER = struct.Struct("<IqqIIBBH")  # crc, ts, expires, key_len, val_len, flags, codec, reserved


def encode_record(ts, expires, key, value, flags, codec):
    body = HEADER.pack(0, ts, expires, len(key), len(value), flags, codec, 0)[4:] + key + value
    return struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF) + body


def encode_hint(key, file_id, offset, size, ts, expires, flags):
    """One entry of a Go hint file: key_len, key, file id, offset, size, ts, expires, flags and
    seven reserved zero bytes (44 fixed bytes). No magic, no checksum."""
    return (
        struct.pack("<I", len(key))
        + key
        + struct.pack("<IqIqqB", file_id, offset, size, ts, expires, flags)
        + bytes(7)
    )


def go_time_json(unix_nano, offset_minutes=0):
    """A Go time.Time as encoding/json writes it (RFC 3339 with nanoseconds, trailing zeros of
    the fraction dropped, the local zone's offset or Z)."""
    local = unix_nano + offset_minutes * 60 * 10**9
    secs, frac = divmod(local, 10**9)
    days, rem = divmod(secs, 86400)
    y, m, d = _civil(days)
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % (y, m, d, rem // 3600, rem % 3600 // 60, rem % 60)
    if frac:
        text += ("." + "%09d" % frac).rstrip("0")
    if offset_minutes == 0:
        return text + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    return text + "%s%02d:%02d" % (sign, abs(offset_minutes) // 60, abs(offset_minutes) % 60)


def _civil(days):
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, d


def go_meta(created_unix_nano, offset_minutes=0):
    """data/bitgask.meta as json.MarshalIndent(meta, "", "  ") writes it: no trailing newline."""
    created = go_time_json(created_unix_nano, offset_minutes)
    return ('{\n  "version": 1,\n  "created": "%s"\n}' % created).encode()


# ---------------------------------------------------------------------------------------------
# A simulated clock: fixtures are byte-for-byte reproducible, and every TTL is either expired
# long before any test runs or lives until 2126, so the expected sets never depend on the time.

BASE_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
LONG_TTL = 100 * 365 * 86400 * 10**9
SHORT_TTL = 5 * 10**9


class Clock:
    def __init__(self, start=BASE_NS):
        self.ns = start

    def now(self, step=1_000):
        """Reads the clock (each read advances it a little, as time passes between calls)."""
        self.ns += step
        return self.ns

    def sleep(self, ns):
        self.ns += ns

    def step_back(self, ns):
        """An NTP correction: the wall clock jumps backwards."""
        self.ns -= ns


class Entry:
    """What the Go keydir holds for a key: the location and header of its last record."""

    def __init__(self, file_id, offset, size, ts, expires, deleted, value):
        self.file_id, self.offset, self.size = file_id, offset, size
        self.ts, self.expires, self.deleted, self.value = ts, expires, deleted, value

    def expired(self, now):
        return self.expires != 0 and now >= self.expires


class GoDB:
    """The Go system's write path, file by file. Options keep the Go names and defaults."""

    def __init__(
        self,
        root,
        clock,
        file_id_width=9,
        max_data_file_size=256 << 20,
        merge_max_file_size=None,
        hint_files=True,
        compression=True,
        compression_threshold=256,
        max_key_size=64,
        max_value_size=64 << 10,
        zone_minutes=0,
        snappy=None,
    ):
        self.root, self.clock = root, clock
        self.data = os.path.join(root, "data")
        self.width = file_id_width
        self.max_file = max_data_file_size
        self.merge_max = merge_max_file_size or max_data_file_size
        self.hints = hint_files
        self.compression, self.threshold = compression, compression_threshold
        self.max_key, self.max_value = max_key_size, max_value_size
        self.zone = zone_minutes
        self.snappy = snappy or snappy_encode
        self.index = {}
        self.active = None
        self.active_size = 0
        self.is_open = False

    # -- files ------------------------------------------------------------------------------
    def name(self, file_id, ext, directory=None):
        return os.path.join(directory or self.data, "%0*d.%s" % (self.width, file_id, ext))

    def _touch(self, path):
        with open(path, "ab"):
            pass

    def _open_active(self, file_id):
        self._touch(self.name(file_id, "data"))
        if self.hints:
            self._touch(self.name(file_id, "hint"))
        self.active = file_id
        self.active_size = os.path.getsize(self.name(file_id, "data"))

    def _data_ids(self):
        ids = []
        for n in os.listdir(self.data):
            stem, _, ext = n.partition(".")
            if ext == "data" and stem.isdigit():
                ids.append(int(stem))
        return sorted(ids)

    # -- lifecycle --------------------------------------------------------------------------
    def open(self):
        """Open: create root, data/ and LOCK; write meta when missing; reopen the last file."""
        os.makedirs(self.data, exist_ok=True)
        self._touch(os.path.join(self.root, "LOCK"))
        meta = os.path.join(self.data, "bitgask.meta")
        if not os.path.exists(meta):
            with open(meta, "wb") as f:
                f.write(go_meta(self.clock.now(), self.zone))
        ids = self._data_ids()
        self._open_active(ids[-1] if ids else 1)
        now = self.clock.now()
        # Load drops keys whose last record expired (db.go updateIndex); tombstones stay.
        self.index = {k: e for k, e in self.index.items() if not e.expired(now)}
        self.is_open = True
        return self

    def close(self):
        self.is_open = False

    # -- the write path ---------------------------------------------------------------------
    def _encode(self, ts, expires, key, value, flags=0):
        codec = 0
        if self.compression and len(value) >= self.threshold:
            value = self.snappy(value)
            flags |= FLAG_COMPRESSED
            codec = CODEC_SNAPPY
        return encode_record(ts, expires, key, value, flags, codec), flags

    def _append(self, rec, key, ts, expires, flags):
        """rotateIfNeeded, then the data write, then the hint entry."""
        if self.active_size + len(rec) > self.max_file:
            self._open_active(self.active + 1)
        offset = self.active_size
        with open(self.name(self.active, "data"), "ab") as f:
            f.write(rec)
        self.active_size += len(rec)
        if self.hints:
            with open(self.name(self.active, "hint"), "ab") as f:
                f.write(encode_hint(key, self.active, offset, len(rec), ts, expires, flags))
        return offset

    def _write(self, key, value, ts, expires, deleted, txn=False):
        assert self.is_open and 0 < len(key) <= self.max_key and len(value) <= self.max_value
        if deleted:
            rec, flags = encode_record(ts, 0, key, b"", FLAG_DELETED, 0), FLAG_DELETED
        else:
            rec, flags = self._encode(ts, expires, key, value)
        if txn:
            # Txn.Commit puts the flags of the record before compression in the hint entry, so
            # a compressed value's entry says 0 and the Go load falls back to scanning the data.
            flags &= ~FLAG_COMPRESSED
        offset = self._append(rec, key, ts, expires, flags)
        self.index[key] = Entry(self.active, offset, len(rec), ts, expires, deleted, value)

    def stamp(self):
        """`now := time.Now()` at the top of Put/Delete, before the write lock."""
        return self.clock.now()

    def put(self, key, value, ttl=0, ts=None):
        ts = self.stamp() if ts is None else ts
        self._write(key, value, ts, ts + ttl if ttl > 0 else 0, False)

    def delete(self, key, ts=None):
        """Delete writes a tombstone only for a key that is live when it reads the clock (else
        it returns ErrKeyNotFound and writes nothing, which no fixture wants)."""
        ts = self.stamp() if ts is None else ts
        e = self.index.get(key)
        assert e is not None and not e.deleted and not e.expired(ts), "Delete: ErrKeyNotFound"
        self._write(key, b"", ts, 0, True)

    def expire(self, key, ttl):
        """Expire: under the write lock, rewrites the value with a new expiry (ttl > 0) or
        writes a tombstone (ttl <= 0)."""
        ts = self.clock.now()
        e = self.index.get(key)
        if e is None or e.deleted or e.expired(ts):
            return False
        if ttl <= 0:
            self._write(key, b"", ts, 0, True)
        else:
            self._write(key, e.value, ts, ts + ttl, False)
        return True

    def transaction(self):
        return Txn(self)

    def crash_mid_write(self, key, value, keep):
        """A process killed while appending: the first `keep` bytes of a record reach the file,
        no hint entry does. The next open appends after them (it trusts the hints)."""
        rec, _ = self._encode(self.clock.now(), 0, key, value)
        assert 0 < keep < len(rec)
        offset = self.active_size
        with open(self.name(self.active, "data"), "ab") as f:
            f.write(rec[:keep])
        self.active_size += keep
        return offset

    def crash_before_hint(self, key, value):
        """A process killed between the data write and the hint write: the record is in the
        data file, its hint entry is not. Put never returned, so the write was not acknowledged;
        the Go keydir of the next open (from hints) does not see it, a scan of the data does."""
        ts = self.clock.now()
        rec, _ = self._encode(ts, 0, key, value)
        with open(self.name(self.active, "data"), "ab") as f:
            f.write(rec)
        self.active_size += len(rec)
        return ts

    # -- merge ------------------------------------------------------------------------------
    def merge(self, stop_after=None):
        """runMerge: live, unexpired keys in key order into merge.tmp/ (ids from 1, hints as
        they go), then data -> data.old, merge.tmp -> data, remove data.old; the last merged
        file becomes the active file. `stop_after` simulates a crash after that step:
        "write" (half of merge.tmp written), "rename-data", "rename-tmp"."""
        now = self.clock.now()
        tmp = os.path.join(self.root, "merge.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        live = sorted((k, e) for k, e in self.index.items() if not e.deleted and not e.expired(now))
        file_id, size, new_index = 1, 0, {}
        self._touch(self.name(file_id, "data", tmp))
        if self.hints:
            open(self.name(file_id, "hint", tmp), "wb").close()
        for n, (key, e) in enumerate(live):
            if stop_after == "write" and n == len(live) // 2:
                return
            rec, flags = self._encode(e.ts, e.expires, key, e.value)
            if size + len(rec) > self.merge_max:
                file_id, size = file_id + 1, 0
                self._touch(self.name(file_id, "data", tmp))
                if self.hints:
                    open(self.name(file_id, "hint", tmp), "wb").close()
            with open(self.name(file_id, "data", tmp), "ab") as f:
                f.write(rec)
            if self.hints:
                with open(self.name(file_id, "hint", tmp), "ab") as f:
                    f.write(encode_hint(key, file_id, size, len(rec), e.ts, e.expires, flags))
            new_index[key] = Entry(file_id, size, len(rec), e.ts, e.expires, False, e.value)
            size += len(rec)
        old = os.path.join(self.root, "data.old")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(self.data, old)
        if stop_after == "rename-data":
            return
        os.rename(tmp, self.data)
        if stop_after == "rename-tmp":
            return
        shutil.rmtree(old)
        self.index = new_index
        self._open_active(file_id)


class Txn:
    """txn.go: entries are stamped when staged; commit appends them under the write lock in the
    order their keys were first staged, each with its last staged entry."""

    def __init__(self, db):
        self.db, self.order, self.writes = db, [], {}

    def _stage(self, key, entry):
        if key not in self.writes:
            self.order.append(key)
        self.writes[key] = entry

    def put(self, key, value, ttl=0):
        ts = self.db.clock.now()
        self._stage(key, (ts, value, ts + ttl if ttl > 0 else 0, False))

    def delete(self, key):
        ts = self.db.clock.now()
        staged = self.writes.get(key)
        if staged is not None:
            assert not staged[3]
        else:
            e = self.db.index.get(key)
            assert e is not None and not e.deleted and not e.expired(ts), "Txn.Delete: ErrKeyNotFound"
        self._stage(key, (ts, b"", 0, True))

    def commit(self):
        for key in self.order:
            ts, value, expires, deleted = self.writes[key]
            self.db._write(key, value, ts, expires, deleted, txn=True)
