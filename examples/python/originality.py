#!/usr/bin/python3
"""Checks a card's originality signature (CardService.VerifyOriginality).

desfired reads the card's ReadSig answer and verifies it (ECDSA secp224r1 over the UID) under
NXP's public keys for the card's product and the keys it was given with --originality_keys.
Exit code 0 for a genuine card, 1 otherwise.
"""

import sys

import _common
from desfired.v1 import card_pb2
from desfired_client import DesfiredError


def main():
    p = _common.parser(__doc__.splitlines()[0])
    args = p.parse_args()
    client = _common.connect(args)
    reader = _common.pick_reader(client, args)
    try:
        answer = client.verify_originality(reader)
    except DesfiredError as e:
        _common.fail("VerifyOriginality", e)
    verdict = card_pb2.OriginalityVerdict.Name(answer.verdict).replace(
        "ORIGINALITY_VERDICT_", "")
    print("%s: %s (%s)" % (answer.uid.hex().upper(), verdict, answer.version.product_name))
    if answer.key_name:
        print("verified under: %s" % answer.key_name)
    print("keys tried: %s" % ", ".join(answer.keys_tried))
    return 0 if answer.verdict == card_pb2.ORIGINALITY_VERDICT_GENUINE else 1


if __name__ == "__main__":
    sys.exit(main())
