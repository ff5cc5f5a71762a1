#!/usr/bin/python3
"""Debits 1 from a value file every --interval seconds until the value is used up.

Each debit has its own request_id. When the card leaves the reader (CARD_REMOVED, NO_CARD)
or desfired does not answer, the SAME debit (same request_id) is retried until the card is
back, so a debit whose answer was lost is never applied twice: the server answers the retry
with the first outcome (`replayed`). Prints each debit and a summary:
"summary: N debits from START to END, R retries".
"""

import sys
import time

import grpc

import _common
import desfired_client
from desfired_client import DesfiredError

# Worth retrying the same debit once the card (or the server) is back.
TRANSIENT = {"CARD_REMOVED", "NO_CARD", "PCSC_UNAVAILABLE", "READER_BUSY",
             "REQUEST_IN_PROGRESS", "OUTCOME_UNKNOWN"}


def transient(error):
    return error.transport or error.reason in TRANSIENT or error.code == grpc.StatusCode.UNAVAILABLE


def main():
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--aid", type=lambda s: int(s, 16), default=0xF51001, help="hex")
    p.add_argument("--file", type=int, default=1)
    p.add_argument("--key", default="transit-debit", help="a key with debit (write) access")
    p.add_argument("--key-no", type=int, default=2)
    p.add_argument("--read-key", default="transit-read")
    p.add_argument("--read-key-no", type=int, default=1)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between debits")
    p.add_argument("--card-wait", type=float, default=60.0,
                   help="give up when the card stays away this long")
    args = p.parse_args()
    # The retries are this loop's own (it waits for the card), not the client's.
    client = _common.connect(args, mutation_retries=0)
    reader = _common.pick_reader(client, args)

    def value():
        return client.get_value(reader, args.aid, args.file, key_name=args.read_key,
                                key_no=args.read_key_no)

    try:
        start = value()
    except DesfiredError as e:
        _common.fail("GetValue", e)
    print("value at start: %d" % start)
    debits = retries = 0
    while True:
        request_id = desfired_client.new_request_id()  # a new change: a new id
        first_try = time.monotonic()
        while True:
            try:
                change = client.debit(reader, args.aid, args.file, 1, key_name=args.key,
                                      key_no=args.key_no, request_id=request_id)
                break
            except DesfiredError as e:
                if e.reason == "INSUFFICIENT_VALUE":
                    change = None
                    break
                if not transient(e):
                    _common.fail("Debit", e)
                if time.monotonic() - first_try > args.card_wait:
                    _common.fail("the card did not come back", e)
                retries += 1
                print("debit #%d: %s, retrying request %s when the card is back"
                      % (debits + 1, e.reason or "no answer from desfired", request_id))
                sys.stdout.flush()
                time.sleep(args.interval)
        if change is None:
            print("value used up")
            break
        debits += 1
        after = change.value_after if change.HasField("value_after") else "?"
        print("debit #%d: value now %s%s (request %s)"
              % (debits, after, " (replayed)" if change.replayed else "", request_id))
        sys.stdout.flush()
        time.sleep(args.interval)
    try:
        end = value()
    except DesfiredError as e:
        _common.fail("GetValue", e)
    print("summary: %d debits from %d to %d, %d retries" % (debits, start, end, retries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
