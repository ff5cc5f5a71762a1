#!/usr/bin/python3
"""The plain-mode card sequence of bench/card_ops_bench.cc, sent through pyscard.

Run by card_ops_bench (BM_PyscardPlain) with the system Python and Debian's python3-pyscard,
against the same sandboxed pcscd (PCSCLITE_CSOCK_NAME is inherited) and the same card:

  /usr/bin/python3 bench/pyscard_plain.py --reader "Test PCD 00 00" --sequences 1000 \\
      --transcript plain.txt --samples-out samples.txt

It takes the path the seed Python library (miohtama/desfire) takes: a pyscard
PCSCCardConnection (`connection.component`), each command wrapped as
90 INS 00 00 [Lc data] 00 in Python lists, 91 AF answered with 90 AF 00 00 00 until the
card is done. Every APDU sent and every reply of the first sequence is compared with the
transcript the C++ benchmark recorded through core (one "command reply" hex pair a line), so
all three paths provably send the same bytes; later sequences check the status bytes.

Prints one line: sequences, median / mean / p90 per sequence in microseconds; writes every
sequence's time (microseconds, one a line) to --samples-out.
"""
import argparse
import statistics
import sys
import time

from smartcard.System import readers
from smartcard.scard import SCARD_SHARE_EXCLUSIVE

# The sequence: (INS, data) of each command, in the order core sends them.
SELECT = 0x5A
GET_VERSION = 0x60
GET_APPLICATION_IDS = 0x6A
GET_FILE_IDS = 0x6F
GET_FILE_SETTINGS = 0xF5
ADDITIONAL_FRAME = 0xAF
SEQUENCE = [
    (SELECT, [0x00, 0x00, 0x00]),  # PICC level
    (GET_VERSION, []),  # three frames
    (GET_APPLICATION_IDS, []),
    (SELECT, [0x01, 0x10, 0xF5]),  # application F51001, least significant byte first
    (GET_FILE_IDS, []),
    (GET_FILE_SETTINGS, [0x04]),  # the plain standard file
]


def wrap(ins, data):
    if data:
        return [0x90, ins, 0x00, 0x00, len(data)] + data + [0x00]
    return [0x90, ins, 0x00, 0x00, 0x00]


def command(card, ins, data, trace):
    """One native command with 0xAF chaining; returns the data of all frames."""
    apdu = wrap(ins, data)
    out = []
    while True:
        resp, sw1, sw2 = card.transmit(apdu)
        if trace is not None:
            trace.append((apdu, resp + [sw1, sw2]))
        if sw1 != 0x91 or sw2 not in (0x00, 0xAF):
            raise RuntimeError("INS %02x answered %02x %02x" % (ins, sw1, sw2))
        out += resp
        if sw2 == 0x00:
            return out
        apdu = wrap(ADDITIONAL_FRAME, [])


def run_sequence(card, trace=None):
    for ins, data in SEQUENCE:
        command(card, ins, data, trace)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reader", required=True)
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--transcript", required=True)
    parser.add_argument("--samples-out")
    args = parser.parse_args()

    reader = next((r for r in readers() if str(r) == args.reader), None)
    if reader is None:
        sys.exit("reader %r not found" % args.reader)
    connection = reader.createConnection()
    connection.connect(mode=SCARD_SHARE_EXCLUSIVE)
    card = connection.component  # what the seed library is handed

    expected = []
    with open(args.transcript) as f:
        for line in f:
            if line.strip():
                c, r = line.split()
                expected.append((list(bytes.fromhex(c)), list(bytes.fromhex(r))))
    trace = []
    run_sequence(card, trace)
    if trace != expected:
        for i, (got, want) in enumerate(zip(trace, expected)):
            if got != want:
                sys.exit("exchange %d differs from core: sent %s got %s, core %s got %s" % (
                    i, bytes(got[0]).hex(), bytes(got[1]).hex(), bytes(want[0]).hex(),
                    bytes(want[1]).hex()))
        sys.exit("%d exchanges, core had %d" % (len(trace), len(expected)))

    for _ in range(args.warmup):
        run_sequence(card)
    samples = []
    for _ in range(args.sequences):
        t0 = time.perf_counter()
        run_sequence(card)
        samples.append((time.perf_counter() - t0) * 1e6)
    connection.disconnect()

    samples_sorted = sorted(samples)
    p90 = samples_sorted[min(len(samples) - 1, int(0.9 * len(samples)))]
    print("pyscard plain sequence: %d sequences, %d APDUs each, median %.1f us, mean %.1f us, "
          "p90 %.1f us" % (len(samples), len(expected), statistics.median(samples),
                           statistics.fmean(samples), p90))
    if args.samples_out:
        with open(args.samples_out, "w") as f:
            f.write("".join("%.3f\n" % s for s in samples))


if __name__ == "__main__":
    main()
