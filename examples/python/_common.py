"""What the Python examples share: the connection options and the reader to use.

The examples import desfired_client, the package built into <build>/python (put that folder
on PYTHONPATH; docs/clients.md).
"""

import argparse
import os
import sys

import desfired_client


def parser(description):
    """An ArgumentParser with --server, --token, --tls-ca and --reader."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--server", default=os.environ.get("DESFIRED_SERVER", "127.0.0.1:50051"),
                   help="desfired's HOST:PORT (default $DESFIRED_SERVER or 127.0.0.1:50051)")
    p.add_argument("--token", default=os.environ.get("DESFIRED_TOKEN"),
                   help="bearer token (default $DESFIRED_TOKEN)")
    p.add_argument("--tls-ca", default=os.environ.get("DESFIRED_TLS_CA"),
                   help="PEM roots to trust; turns TLS on (default $DESFIRED_TLS_CA)")
    p.add_argument("--reader", default=os.environ.get("DESFIRED_READER"),
                   help="reader name (default $DESFIRED_READER, else the first with a card)")
    return p


def connect(args, **kwargs):
    return desfired_client.connect(args.server, token=args.token, tls_ca=args.tls_ca,
                                   deadline=10.0, **kwargs)


def pick_reader(client, args):
    """--reader, else the first reader with a card, else the first reader."""
    if args.reader:
        return args.reader
    readers = client.list_readers()
    if not readers:
        sys.exit("desfired has no readers")
    for r in readers:
        if r.card_present:
            return r.name
    return readers[0].name


def fail(what, error):
    """Prints a DesfiredError with its reason and exits with code 1."""
    sys.exit("%s: %s (%s): %s" % (what, error.reason or "no answer from desfired",
                                  error.code.name, error.message))
