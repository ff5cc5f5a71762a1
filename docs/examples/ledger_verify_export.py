#!/usr/bin/env python3
"""Re-verifies desfired's audit ledger from its JSON-lines export, without desfired's code.

    desfirectl ledger export --ledger ledger.sqlite -o ledger.jsonl
    python3 ledger_verify_export.py ledger.jsonl      # or '-' for stdin

Implements the canonical encoding and the chain of docs/ledger.md with the standard library
only. Prints "OK: N rows, head HASH" and exits 0, or names the first bad row and exits 1.
(Compare HASH with a copy of the head kept elsewhere: a chain rewritten from the start checks
out on its own.)
"""
import hashlib
import json
import struct
import sys

# Every column but `hash`, in this order; (name, kind).
FIELDS = [
    ("seq", "int"), ("time", "text"), ("event", "text"), ("request_id", "text"),
    ("request_hash", "text"), ("caller", "text"), ("method", "text"), ("uid", "text"),
    ("reader", "text"), ("aid", "int"), ("file_no", "int"), ("amount", "optional"),
    ("value_before", "optional"), ("value_after", "optional"), ("outcome", "text"),
    ("reason", "text"), ("commit_state", "text"), ("detail", "text"), ("payload", "hex"),
    ("pending_seq", "int"), ("prev_hash", "hex"),
]
# Format version 2: the Transaction MAC columns, hashed after prev_hash only when one is set
# (rows without them, and every row of a version-1 ledger, hash as before).
TMAC_FIELDS = [("tmc", "optional"), ("tmv", "text"), ("reader_id", "text")]


def field(b: bytes) -> bytes:
    """8-byte big-endian length, then the bytes."""
    return struct.pack(">Q", len(b)) + b


def encode(kind: str, value) -> bytes:
    if kind == "int":
        return field(struct.pack(">q", value))
    if kind == "optional":
        return field(b"") if value is None else field(struct.pack(">q", value))
    if kind == "hex":
        return field(bytes.fromhex(value))
    return field(value.encode("utf-8"))


def main() -> int:
    src = sys.stdin if len(sys.argv) < 2 or sys.argv[1] == "-" else open(sys.argv[1])
    prev = bytes(32)
    expected_seq = 1
    rows = 0
    for line in src:
        if not line.strip():
            continue
        row = json.loads(line)
        seq = row["seq"]
        if seq != expected_seq:
            print(f"row {seq}: expected row {expected_seq} (rows missing or out of order)")
            return 1
        if bytes.fromhex(row["prev_hash"]) != prev:
            print(f"row {seq}: prev_hash is not the previous row's hash")
            return 1
        canonical = b"".join(encode(kind, row[name]) for name, kind in FIELDS)
        tmac = [(kind, row.get(name, None if kind == "optional" else ""))
                for name, kind in TMAC_FIELDS]
        if any(value not in (None, "") for _, value in tmac):
            canonical += b"".join(encode(kind, value) for kind, value in tmac)
        digest = hashlib.sha256(prev + canonical).hexdigest()
        if digest != row["hash"]:
            print(f"row {seq}: hash mismatch (computed {digest}, stored {row['hash']})")
            return 1
        prev = bytes.fromhex(row["hash"])
        expected_seq += 1
        rows += 1
    print(f"OK: {rows} rows, head {prev.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
