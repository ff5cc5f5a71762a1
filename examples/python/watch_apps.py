#!/usr/bin/python3
"""Prints a card's applications each time a card is inserted.

WatchCards, then ListApplications for every card that arrives (a card already on a reader
at the start counts as arriving). Stops after --max-cards cards (exit 0), or after --timeout
seconds (exit 0 without --max-cards; 1 when fewer cards came).
"""

import sys

import grpc

import _common
from desfired_client import DesfiredError


def main():
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--key", help="card master key name, when listing is not free")
    p.add_argument("--key-no", type=int, default=0)
    p.add_argument("--max-cards", type=int, default=0, help="stop after this many cards")
    p.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    args = p.parse_args()
    client = _common.connect(args)
    watched = [args.reader] if args.reader else []
    cards = 0

    def on_card(reader, uid):
        """Prints the applications of the card that arrived; False: stop watching."""
        nonlocal cards
        cards += 1
        try:
            apps = client.list_applications(reader, key_name=args.key, key_no=args.key_no)
            print("+ card %s on %s: %d application(s)" % (uid.hex(), reader, len(apps)))
            for app in apps:
                print("  %06X" % app.aid)
        except DesfiredError as e:
            print("+ card %s on %s: applications not listed (%s)" % (uid.hex(), reader, e.reason))
        sys.stdout.flush()
        return not args.max_cards or cards < args.max_cards

    try:
        for item in client.watch_cards(readers=watched, timeout=args.timeout):
            if item.HasField("snapshot"):
                for r in item.snapshot.readers:
                    if r.card_present and not on_card(r.name, r.uid):
                        return 0
                continue
            event = item.event
            if event.kind == event.CARD_INSERTED and not on_card(event.reader, event.uid):
                return 0
            if event.kind == event.CARD_REMOVED:
                print("- card %s left %s" % (event.uid.hex(), event.reader))
                sys.stdout.flush()
    except DesfiredError as e:
        if e.code == grpc.StatusCode.DEADLINE_EXCEEDED and e.reason is None:
            print("timed out after %d card(s)" % cards)
            return 1 if args.max_cards and cards < args.max_cards else 0
        _common.fail("WatchCards", e)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
