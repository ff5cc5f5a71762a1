#!/usr/bin/python3
"""Generates sim/images/transit.json: a demo transit card for desfire-sim.

Run with the system Python (python3-cryptography):  /usr/bin/python3 sim/images/make_transit.py
The tap records follow docs/tap-record-format.md (version 1): CRC-8/SMBUS and an
AES128_CMAC MAC (first 8 bytes of the AES-CMAC) under the demo tap key
2b7e151628aed2a6abf7158809cf4f3c (the RFC 4493 example key; a demo key, never a real one).
"""
import json
import os
import struct

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms

TAP_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
UID = bytes.fromhex("04a1b2c3d4e5f6")
UID_FLAG = 0x80

# Application keys (AES-128): 0 master, 1 read, 2 debit/write, 3 credit (top-up).
APP_KEYS = [
    "00112233445566778899aabbccddeeff",
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
    "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf",
]


def crc8(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def tap_record(rtype: int, ts: int, terminal: int, fare: int, zone: int) -> bytes:
    head = (bytes([rtype]) + struct.pack("<I", ts) + terminal.to_bytes(3, "little") +
            struct.pack("<H", fare) + bytes([zone]) + UID + bytes([UID_FLAG]))
    assert len(head) == 0x13
    c = cmac.CMAC(algorithms.AES(TAP_KEY))
    c.update(head)
    body = head + c.finalize()[:8]
    return body + bytes([crc8(body)]) + b"\xff" * 4


def main() -> None:
    assert crc8(b"123456789") == 0xF4
    taps = [
        tap_record(0x01, 1763712000, 0x001234, 7, 3),  # 2025-11-21 08:00:00Z entry
        tap_record(0x02, 1763713500, 0x001240, 7, 5),  # exit
        tap_record(0x01, 1763740800, 0x001240, 7, 5),  # entry
        tap_record(0x03, 1763741700, 0x002001, 7, 6),  # transfer
        tap_record(0x02, 1763743200, 0x001234, 7, 3),  # exit
        tap_record(0x01, 1763798400, 0x001234, 9, 3),  # next day, other fare product
    ]
    for t in taps:
        assert len(t) == 32
    profile = b"DESFIRED DEMO TRANSIT PROFILE 01"
    issuer = b"desfired demo issuer, not valid\x00"
    secret = bytes.fromhex("5345435245540000") + bytes(range(24))
    image = {
        "format": "desfire-sim-image/1",
        "uid": UID.hex(),
        "random_uid": False,
        "configuration": 0,
        "capacity": 7936,
        "picc": {
            "key_settings": 15,
            "key": {"type": "DES", "value": "0000000000000000", "version": 0},
        },
        "applications": [{
            "aid": "f51001",
            "key_settings": 11,
            "key_type": "AES128",
            "keys": [{"type": "AES128", "value": k, "version": 1} for k in APP_KEYS],
            "files": [
                {"id": 1, "type": "value", "comm": "full",
                 "access": {"read": 1, "write": 2, "read_write": 3, "change": 0},
                 "lower_limit": 0, "upper_limit": 100000, "value": 2500,
                 "limited_credit_enabled": True, "limited_credit_value": 0},
                {"id": 2, "type": "backup", "comm": "mac",
                 "access": {"read": 1, "write": 2, "read_write": 3, "change": 0},
                 "size": 32, "data": profile.hex()},
                {"id": 3, "type": "cyclic_record", "comm": "mac",
                 "access": {"read": 1, "write": 2, "read_write": 3, "change": 0},
                 "record_size": 32, "max_records": 11,
                 "records": [t.hex() for t in taps]},
                {"id": 4, "type": "standard", "comm": "plain",
                 "access": {"read": 14, "write": 0, "read_write": 0, "change": 0},
                 "size": 32, "data": issuer.hex()},
                {"id": 5, "type": "standard", "comm": "full",
                 "access": {"read": 1, "write": 0, "read_write": 0, "change": 0},
                 "size": 32, "data": secret.hex()},
            ],
        }],
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "transit.json")
    with open(out, "w") as f:
        json.dump(image, f, indent=2)
        f.write("\n")
    # The taps also as hex lines, for the tap-parser tests of the lead's tools.
    print("\n".join(t.hex() for t in taps))


if __name__ == "__main__":
    main()
