#!/usr/bin/python3
"""Verifies the SUN messages of NTAG 424 DNA / DESFire EV3 tag URLs (TapService.VerifySun).

Each URL's e= (encrypted PICCData) and c= (SDMMAC) parameters, or uid= and ctr= for a tag that
mirrors in plain, are checked with the server's key store: --meta-key names K_SDMMetaRead,
--file-key K_SDMFileRead (diversified per tag when the store says so; --aid is then the
application of the AN10922 input). --mac-from-e: the tag MACs the URL from e's value up to c's
(SDMMACInputOffset at the PICCData, as `?e=<picc>&c=<mac>` templates do); otherwise the MAC input
is empty. Exit code 0 when every URL is VALID.
"""

import sys
import urllib.parse

import _common
from desfired.v1 import taps_pb2
from desfired_client import DesfiredError


def message(url, mac_from_e):
    query = urllib.parse.urlsplit(url).query
    params = dict(urllib.parse.parse_qsl(query))
    m = {"picc_data": params.get("e", ""), "uid": params.get("uid", ""),
         "counter": params.get("ctr", ""), "mac": params.get("c", params.get("cmac", ""))}
    if mac_from_e and m["picc_data"]:
        start = query.index("e=") + 2
        end = query.index("c=", start) + 2
        m["mac_input"] = query[start:end]
    return m


def main():
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("urls", nargs="+", help="tag URLs")
    p.add_argument("--meta-key", default="", help="key store name of K_SDMMetaRead")
    p.add_argument("--file-key", required=True, help="key store name of K_SDMFileRead")
    p.add_argument("--aid", type=lambda s: int(s, 16), default=0, help="hex (AN10922 input)")
    p.add_argument("--cipher", choices=("aes", "lrp"), default="aes")
    p.add_argument("--mac-from-e", action="store_true",
                   help="the MAC covers the URL from e's value up to c's")
    args = p.parse_args()
    client = _common.connect(args)
    try:
        answer = client.verify_sun([message(u, args.mac_from_e) for u in args.urls],
                                   args.file_key, meta_key_name=args.meta_key,
                                   cipher=args.cipher, aid=args.aid)
    except DesfiredError as e:
        _common.fail("VerifySun", e)
    for url, r in zip(args.urls, answer.results):
        status = taps_pb2.TapResult.Status.Name(r.status)
        warnings = ", ".join(taps_pb2.SunWarning.Name(w).replace("SUN_WARNING_", "")
                             for w in r.warnings)
        counter = r.counter if r.HasField("counter") else "-"
        print("%s uid=%s counter=%s %s%s" % (status, r.uid.hex().upper() or "-", counter,
                                            warnings, r.error))
    return 0 if answer.valid == len(args.urls) else 1


if __name__ == "__main__":
    sys.exit(main())
