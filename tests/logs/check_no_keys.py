#!/usr/bin/python3
"""Fails when a key value (or card data of the test images) appears in any server log line.

Every test that starts desfired (in process or the binary) appends its log lines to
<build>/test-logs/ (ctest sets DESFIRED_LOG_FILE=<build>/test-logs/desfired-%p.log). This
script runs after them (the ctest fixture `server_logs`, and scripts/test) and:

  1. collects the secrets the tests and demos use, from the source tree:
     - `key <name> <type> <hex>` lines: in *.conf files, and in string literals of the test,
       bench, script and doc sources (tests/, bench/, scripts/, docker/, docs/, sim/);
     - `--mac-key <hex>` arguments in those sources;
     - the key values of the simulator images (sim/images/*.json: every {"type", "value"}
       object whose type is a key type), and their file and record data (card data that
       ReadData/ReadRecords return: never logged either);
     - `token <name> <value>` lines in *.conf files (access tokens);
     - the PKCS#11 PINs of the test tokens (`constexpr char k...Pin[] = "..."`; the token keys
       themselves are the `key` lines the tests import into their tokens);
     - values given with --secret;
  2. reads every file under the log directory and looks for each secret in every line, as hex
     in any case, contiguous or with its bytes separated by ' ', ':' or '-';
  3. prints how many secrets, files and lines it checked; exits 1 naming file:line and the
     secret's name and origin (never its value) for each hit, or when the log directory has no
     lines at all (so the check cannot pass vacuously). With --skip-without-root, an empty log
     directory when not run as root exits 77 (the server tests skip without root).
"""

import argparse
import json
import os
import re
import sys
from typing import Dict, Iterable, List, Tuple

KEY_TYPES = ("AES128", "AES", "2TDEA", "2K3DES", "3TDEA", "3K3DES", "DES")
KEY_LINE = re.compile(
    r"\bkey\s+([A-Za-z0-9_.\-]+)\s+(?:" + "|".join(KEY_TYPES) + r")\s+([0-9A-Fa-f]{16,48})\b")
MAC_KEY = re.compile(r"--mac[-_]key[= ]+\"?\s*([0-9A-Fa-f]{32})\b")
TEST_TOKEN = re.compile(r'constexpr char (k\w*Token)\[\] = "([^"]{8,})";')
# PKCS#11 user PINs of the test tokens (constexpr char kSoftHsmPin[] = "...").
TEST_PIN = re.compile(r'constexpr char (k\w*Pin)\[\] = "([^"]{8,})";')
TOKEN_LINE = re.compile(r"^\s*token\s+(\S+)\s+(\S{16,})", re.M)
SOURCE_DIRS = ("tests", "bench", "scripts", "docker", "docs", "sim")
SOURCE_EXTS = (".cc", ".h", ".py", ".sh", ".md", ".conf", ".yaml", ".txt", "")
SKIP_DIRS = {".git", "build"}
MIN_DATA_HEX = 16  # card data shorter than 8 bytes is too common to mean anything

Secret = Tuple[str, str]  # (what it is, where it comes from)


def source_files(root: str) -> Iterable[str]:
    for top in SOURCE_DIRS:
        for d, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = [x for x in dirs if x not in SKIP_DIRS and not x.startswith("build")]
            for f in files:
                if os.path.splitext(f)[1] in SOURCE_EXTS:
                    yield os.path.join(d, f)


def image_secrets(path: str, rel: str, out: Dict[str, Secret]) -> None:
    with open(path, encoding="utf-8") as f:
        image = json.load(f)

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") in KEY_TYPES and isinstance(node.get("value"), str):
                out.setdefault(node["value"].lower(), (f"key at {where}", rel))
            for k, v in node.items():
                if k == "data" and isinstance(v, str) and len(v) >= MIN_DATA_HEX:
                    out.setdefault(v.lower(), (f"card data at {where}.data", rel))
                elif k == "records" and isinstance(v, list):
                    for i, r in enumerate(v):
                        if isinstance(r, str) and len(r) >= MIN_DATA_HEX:
                            out.setdefault(r.lower(), (f"card record {where}.records[{i}]", rel))
                else:
                    walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(image, "$")


def collect_secrets(root: str, extra: List[str]) -> Dict[str, Secret]:
    """hex value (lower case) -> (name, origin)."""
    secrets: Dict[str, Secret] = {}
    for path in source_files(root):
        rel = os.path.relpath(path, root)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        for name, value in KEY_LINE.findall(text):
            secrets.setdefault(value.lower(), (f"key {name}", rel))
        for value in MAC_KEY.findall(text):
            secrets.setdefault(value.lower(), ("--mac-key", rel))
        if path.endswith(".conf"):
            for name, value in TOKEN_LINE.findall(text):
                secrets.setdefault(value.lower(), (f"token {name}", rel))
        # Bearer tokens the tests present (constexpr char kViewerToken[] = "...").
        for name, value in TEST_TOKEN.findall(text):
            secrets.setdefault(value.lower(), (f"token {name}", rel))
        for name, value in TEST_PIN.findall(text):
            secrets.setdefault(value.lower(), (f"PIN {name}", rel))
    images = os.path.join(root, "sim", "images")
    if os.path.isdir(images):
        for f in sorted(os.listdir(images)):
            if f.endswith(".json"):
                image_secrets(os.path.join(images, f), os.path.relpath(
                    os.path.join(images, f), root), secrets)
    for i, value in enumerate(extra):
        secrets.setdefault(value.lower(), (f"--secret #{i + 1}", "command line"))
    # Hex only (a token may be any text: matched as it is, case-insensitively).
    return {k: v for k, v in secrets.items() if len(k) >= 8}


def patterns(secrets: Dict[str, Secret]) -> List[Tuple[re.Pattern, Secret]]:
    out = []
    for value, what in secrets.items():
        if re.fullmatch(r"[0-9a-f]+", value) and len(value) % 2 == 0:
            pairs = [value[i:i + 2] for i in range(0, len(value), 2)]
            rx = "(?:" + re.escape(value) + "|" + r"[ :\-]".join(pairs) + ")"
        else:
            rx = re.escape(value)
        out.append((re.compile(rx), what))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--secret", action="append", default=[], help="one more value to look for")
    ap.add_argument("--skip-without-root", action="store_true")
    args = ap.parse_args()

    secrets = collect_secrets(args.source_dir, args.secret)
    if not secrets:
        print(f"logs_have_no_keys: no secrets found under {args.source_dir}: nothing to look for")
        return 1
    compiled = patterns(secrets)

    files: List[str] = []
    if os.path.isdir(args.log_dir):
        for d, _, names in os.walk(args.log_dir):
            files.extend(os.path.join(d, n) for n in sorted(names))
    lines = 0
    hits = []
    for path in sorted(files):
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                lines += 1
                line = raw.decode("latin-1").lower()
                for rx, (name, origin) in compiled:
                    if rx.search(line):
                        hits.append(f"{path}:{number}: {name} (from {origin})")

    if lines == 0:
        if args.skip_without_root and os.geteuid() != 0:
            print(f"logs_have_no_keys: no log lines in {args.log_dir}, and not root: the server "
                  "tests were skipped")
            return 77
        print(f"logs_have_no_keys: FAILED: no log lines in {args.log_dir} ({len(files)} files): "
              "the servers of the run logged nothing there (is DESFIRED_LOG_FILE set for them?)")
        return 1
    summary = (f"{len(secrets)} secrets from the sources; {lines} lines in {len(files)} files "
               f"under {args.log_dir}")
    if hits:
        print(f"logs_have_no_keys: FAILED: {len(hits)} secret(s) in the logs ({summary})")
        for h in hits:
            print("  " + h)
        return 1
    print(f"logs_have_no_keys: OK: no secret found ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
