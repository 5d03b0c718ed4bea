"""An independent reader of directories in the Go bitgask's format, for checking the fixtures
gowriter.py writes. It shares no code with gowriter.py (nor with the Rust library): it decodes
records, Go hint files and snappy from the layout alone, and applies the Go system's load rules
(db.go loadDBState in github.com/AfshinJalili/bitgask):

- hint path (hints enabled, ValidateOnOpen off): every data file needs its hint file; each hint
  entry is checked against the record it points at (CRC, key, file id, size, stamp, expiry,
  flags); a short last entry ends the file. Any failure falls back to the data path.
- data path: every record of every data file in id order; the first bad record fails the open.
- either way the last record of a key wins, a tombstone deletes it, and a key whose last record
  has expired is absent.
"""

import binascii
import os
import re
import struct

HEADER = struct.Struct("<I q q I I B B H")
HINT_TAIL = struct.Struct("<I q I q q B 7x")  # after key_len and key
BITGASK_HINT_MAGIC = b"BGKHINT\0"


class Damaged(Exception):
    def __init__(self, name, offset, why):
        super().__init__("%s at offset %d: %s" % (name, offset, why))
        self.name, self.offset, self.why = name, offset, why


def snappy_decode(src):
    """Decodes a snappy raw block, refusing anything the format does not allow."""
    n = shift = pos = 0
    while True:
        if pos >= len(src) or shift > 28:
            raise ValueError("bad length preamble")
        b = src[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    out = bytearray()
    while pos < len(src):
        tag = src[pos]
        kind = tag & 3
        if kind == 0:
            length = tag >> 2
            pos += 1
            if length >= 60:
                extra = length - 59
                length = int.from_bytes(src[pos : pos + extra], "little")
                pos += extra
            length += 1
            if pos + length > len(src):
                raise ValueError("literal runs past the input")
            out += src[pos : pos + length]
            pos += length
            continue
        if kind == 1:
            length = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | src[pos + 1]
            pos += 2
        elif kind == 2:
            length = 1 + (tag >> 2)
            offset = int.from_bytes(src[pos + 1 : pos + 3], "little")
            pos += 3
        else:
            length = 1 + (tag >> 2)
            offset = int.from_bytes(src[pos + 1 : pos + 5], "little")
            pos += 5
        if pos > len(src) or offset == 0 or offset > len(out):
            raise ValueError("bad copy (offset %d with %d bytes out)" % (offset, len(out)))
        for _ in range(length):
            out.append(out[-offset])
    if len(out) != n:
        raise ValueError("decoded %d bytes, preamble says %d" % (len(out), n))
    return bytes(out)


def snappy_elements(src):
    """Counts the element kinds of a snappy block: literal, copy1, copy2, copy4, and literals
    whose length needs extra bytes."""
    pos = 0
    while src[pos] & 0x80:
        pos += 1
    pos += 1
    kinds = {"literal": 0, "long-literal": 0, "copy1": 0, "copy2": 0, "copy4": 0}
    while pos < len(src):
        tag = src[pos]
        if tag & 3 == 0:
            length = tag >> 2
            extra = length - 59 if length >= 60 else 0
            kinds["long-literal" if extra else "literal"] += 1
            length = int.from_bytes(src[pos + 1 : pos + 1 + extra], "little") if extra else length
            pos += 1 + extra + length + 1
        else:
            kinds[("copy1", "copy2", "copy4")[(tag & 3) - 1]] += 1
            pos += (2, 3, 5)[(tag & 3) - 1]
    return kinds


class Rec:
    def __init__(self, file_id, offset, raw):
        crc, self.ts, self.expires, klen, vlen, self.flags, self.codec, self.reserved = HEADER.unpack_from(raw)
        self.file_id, self.offset, self.size = file_id, offset, len(raw)
        self.key = raw[32 : 32 + klen]
        self.stored = raw[32 + klen :]
        self.deleted = bool(self.flags & 1)

    def value(self):
        if self.flags & 2 and self.codec == 1:
            return snappy_decode(self.stored)
        return self.stored


def parse_record(buf, offset, file_id, name):
    """The record at `offset`, CRC-checked; Damaged if it is short or fails its CRC."""
    if offset + 32 > len(buf):
        raise Damaged(name, offset, "short header")
    klen, vlen = struct.unpack_from("<II", buf, offset + 20)
    end = offset + 32 + klen + vlen
    if end > len(buf):
        raise Damaged(name, offset, "short record")
    raw = buf[offset:end]
    if binascii.crc32(raw[4:]) != struct.unpack_from("<I", raw)[0]:
        raise Damaged(name, offset, "crc mismatch")
    return Rec(file_id, offset, raw)


def data_files(data_dir):
    """{id: name} of the *.data files whose stem is a decimal number (strconv.ParseUint)."""
    out = {}
    for n in os.listdir(data_dir):
        m = re.fullmatch(r"([0-9]+)\.data", n)
        if m and os.path.isfile(os.path.join(data_dir, n)):
            file_id = int(m.group(1))
            assert file_id not in out, "two names for file id %d" % file_id
            out[file_id] = n
    return dict(sorted(out.items()))


def scan(data_dir, file_id, name):
    buf = open(os.path.join(data_dir, name), "rb").read()
    pos, out = 0, []
    while pos < len(buf):
        r = parse_record(buf, pos, file_id, name)
        out.append(r)
        pos += r.size
    return out


def read_hints(data_dir, file_id, width):
    """The records a Go hint file names, each checked as loadHintFile checks it; None when the
    Go system would fall back to scanning."""
    hint = os.path.join(data_dir, "%0*d.hint" % (width, file_id))
    data = os.path.join(data_dir, "%0*d.data" % (width, file_id))
    if not os.path.isfile(hint) or not os.path.isfile(data):
        return None
    hb, db = open(hint, "rb").read(), open(data, "rb").read()
    pos, out = 0, []
    while pos + 4 <= len(hb):
        (klen,) = struct.unpack_from("<I", hb, pos)
        if pos + 4 + klen + HINT_TAIL.size > len(hb):
            break  # io.ErrUnexpectedEOF ends the file quietly
        key = hb[pos + 4 : pos + 4 + klen]
        fid, off, size, ts, exp, flags = HINT_TAIL.unpack_from(hb, pos + 4 + klen)
        try:
            r = parse_record(db, off, file_id, data)
        except Damaged:
            return None
        if (r.key, fid, r.size, r.ts, r.expires, r.flags) != (key, file_id, size, ts, exp, flags):
            return None
        out.append(r)
        pos += 4 + klen + HINT_TAIL.size
    return out


def log_view(records, now):
    """The Go rules: the last record of a key in log order wins; tombstones and expired keys are
    absent. Returns {key: (value, expires)}."""
    last = {}
    for r in records:
        last[r.key] = r
    return {k: (r.value(), r.expires) for k, r in sorted(last.items()) if visible(r, now)}


def stamp_view(records, now):
    """What a reader that decides recency by the highest stamp would return (later on a tie)."""
    best = {}
    for r in records:
        if r.key not in best or r.ts >= best[r.key].ts:
            best[r.key] = r
    return {k: (r.value(), r.expires) for k, r in sorted(best.items()) if visible(r, now)}


def visible(r, now):
    return not r.deleted and not (r.expires != 0 and now >= r.expires)


def scan_salvage(data_dir, file_id, name):
    """Like scan, but after a bad record skips ahead to the next offset where a whole record
    passes its CRC, as a salvaging reader does. Returns (records, [(offset, length)] skipped)."""
    buf = open(os.path.join(data_dir, name), "rb").read()
    pos, out, skipped = 0, [], []
    while pos < len(buf):
        try:
            r = parse_record(buf, pos, file_id, name)
        except Damaged:
            nxt = pos + 1
            while nxt < len(buf):
                try:
                    parse_record(buf, nxt, file_id, name)
                    break
                except Damaged:
                    nxt += 1
            skipped.append((pos, nxt - pos))
            pos = nxt
            continue
        out.append(r)
        pos += r.size
    return out, skipped


def all_records(root, sub="data"):
    """Every record of the data files under root/sub, in log order."""
    data_dir = os.path.join(root, sub)
    return [r for fid, n in data_files(data_dir).items() for r in scan(data_dir, fid, n)]


def go_open(root, width, hints, validate_on_open, now):
    """What the Go system's Open loads: ("keys", view), or ("corrupt", Damaged)."""
    data_dir = os.path.join(root, "data")
    if not os.path.isdir(data_dir):
        return "keys", {}  # Open creates an empty data/
    files = data_files(data_dir)
    if hints and not validate_on_open:
        loaded = [read_hints(data_dir, fid, width) for fid in files]
        if all(x is not None for x in loaded):
            return "keys", log_view([r for x in loaded for r in x], now)
    try:
        return "keys", log_view(all_records(root), now)
    except Damaged as e:
        return "corrupt", e


def markers(root):
    """What marks `root` as written by the Go system rather than by bitgask (see
    docs/go-bitgask-differences.md). Today's bitgask writes none of these."""
    found = set()
    data_dir = os.path.join(root, "data")
    if not os.path.isdir(data_dir):
        if os.path.isdir(os.path.join(root, "data.old")) or os.path.isdir(os.path.join(root, "merge.tmp")):
            found.add("no-data-dir")
    else:
        found |= dir_markers(data_dir)
    tmp = os.path.join(root, "merge.tmp")
    if os.path.isdir(tmp) and not os.path.exists(os.path.join(tmp, "MERGE_DONE")):
        # bitgask's own unfinished merge.tmp/ has no MERGE_DONE either, but never Go hints, and
        # bitgask renames it to data/ only after writing MERGE_DONE.
        go_hints = dir_markers(tmp) & {"go-hint-layout", "empty-hint"}
        if go_hints or not os.path.isdir(data_dir) or found - {"hint-for-active-file"}:
            found.add("go-merge-tmp")
    old = os.path.join(root, "data.old")
    if os.path.isdir(old) and dir_markers(old):
        found.add("go-data-old")
    return found


def dir_markers(d):
    found = set()
    names = os.listdir(d)
    files = data_files(d)
    meta = os.path.join(d, "bitgask.meta")
    if os.path.isfile(meta):
        text = open(meta, "rb").read()
        # json.MarshalIndent's layout; bitgask writes one line.
        if text.startswith(b'{\n  "version": ') and b'"writer"' not in text:
            found.add("go-meta-layout")
    elif files:
        found.add("no-meta")
    if any(not re.fullmatch(r"[0-9]{9}", n[: -len(".data")]) for n in files.values()):
        found.add("file-id-width")
    for n in names:
        if not n.endswith(".hint"):
            continue
        head = open(os.path.join(d, n), "rb").read(8)
        if not head:
            found.add("empty-hint")
        elif head != BITGASK_HINT_MAGIC:
            found.add("go-hint-layout")
    if files:
        last = files[max(files)]
        if last[: -len(".data")] + ".hint" in names:
            found.add("hint-for-active-file")
    return found
