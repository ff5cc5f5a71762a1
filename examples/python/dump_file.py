#!/usr/bin/python3
"""Writes a standard (or backup) data file of a card to disk (ReadData).

Without a card on the reader it waits for one (WatchCards) for up to --card-wait seconds.
--key names a key with read access in the server's key store (omit for a free-read file).
"""

import sys

import _common
from desfired_client import DesfiredError


def main():
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument("--aid", type=lambda s: int(s, 16), default=0xF51001, help="hex")
    p.add_argument("--file", type=int, default=4)
    p.add_argument("--key", help="a key with read access (omit for a free-read file)")
    p.add_argument("--key-no", type=int, default=0)
    p.add_argument("--card-wait", type=float, default=60.0)
    args = p.parse_args()
    client = _common.connect(args)
    reader = _common.pick_reader(client, args)

    def read():
        return client.read_data(reader, args.aid, args.file, key_name=args.key,
                                key_no=args.key_no)

    try:
        try:
            data = read()
        except DesfiredError as e:
            if e.reason != "NO_CARD":
                raise
            print("no card on %s: present one" % reader)
            sys.stdout.flush()
            for item in client.watch_cards(readers=[reader], timeout=args.card_wait):
                if item.HasField("snapshot"):
                    if any(r.card_present for r in item.snapshot.readers):
                        break
                elif item.event.kind == item.event.CARD_INSERTED:
                    break
            data = read()
    except DesfiredError as e:
        _common.fail("ReadData", e)
    with open(args.out, "wb") as f:
        f.write(data)
    print("wrote %d bytes of file %d of %06X to %s" % (len(data), args.file, args.aid, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
