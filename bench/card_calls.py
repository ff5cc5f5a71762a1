#!/usr/bin/python3
"""The Python side of bench/card_calls_bench.cc: card calls through desfired with grpcio, and the
same GetValue APDU through pyscard, interleaved (a shuffled order every round).

Run by card_calls_bench with Debian's /usr/bin/python3 (python3-grpcio, python3-pyscard) and
PYTHONPATH=<build>/python (the generated stubs), against the bench's sandboxed pcscd
(PCSCLITE_CSOCK_NAME is inherited):

  /usr/bin/python3 bench/card_calls.py --server 127.0.0.1:PORT --reader "Test PCD 00 00" \\
      --raw-reader "Test PCD 00 01" --rounds 80 --samples-out samples.txt

The raw reader's card has its session opened by the C++ bench (SelectApplication F51001, AES
key 1): GetValue 90 6C 00 00 01 01 00 is the one APDU desfired sends per GetValue. Writes one
"name microseconds" line per call to --samples-out (names: desfired_GetValue,
desfired_ListReaders, raw_GetValue).
"""
import argparse
import random
import sys
import time

import grpc
from smartcard.scard import SCARD_LEAVE_CARD
from smartcard.System import readers

from desfired.v1 import card_pb2, card_pb2_grpc

GET_VALUE = [0x90, 0x6C, 0x00, 0x00, 0x01, 0x01, 0x00]
TRANSIT_AID = 0xF51001


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--reader", required=True)
    parser.add_argument("--raw-reader", required=True)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--samples-out", required=True)
    args = parser.parse_args()

    stub = card_pb2_grpc.CardServiceStub(grpc.insecure_channel(args.server))
    get_value = card_pb2.GetValueRequest(aid=TRANSIT_AID, file_no=1)
    get_value.target.reader = args.reader
    get_value.auth.key_name = "transit-read"
    get_value.auth.key_number = 1
    list_readers = card_pb2.ListReadersRequest()

    raw = [r for r in readers() if str(r) == args.raw_reader]
    if not raw:
        sys.exit("no reader " + args.raw_reader)
    connection = raw[0].createConnection()
    # Shared (the C++ bench holds the card too), and left as it is at the end: pyscard's default
    # disposition powers the card down, which would end the C++ bench's session.
    connection.connect(disposition=SCARD_LEAVE_CARD)
    card = connection.component

    def raw_get_value():
        _, sw1, sw2 = card.transmit(GET_VALUE)
        if sw1 != 0x91 or sw2 != 0x00:
            sys.exit("raw GetValue answered %02X %02X" % (sw1, sw2))

    paths = [
        ("desfired_GetValue", lambda: stub.GetValue(get_value, timeout=10)),
        ("desfired_ListReaders", lambda: stub.ListReaders(list_readers, timeout=10)),
        ("raw_GetValue", raw_get_value),
    ]
    for _ in range(20):  # warm up
        for _, call in paths:
            call()
    samples = []
    for _ in range(args.rounds):
        random.shuffle(paths)
        for name, call in paths:
            t0 = time.perf_counter_ns()
            call()
            samples.append((name, (time.perf_counter_ns() - t0) / 1000.0))
    connection.disconnect()
    with open(args.samples_out, "w") as out:
        for name, us in samples:
            out.write("%s %.1f\n" % (name, us))


if __name__ == "__main__":
    main()
