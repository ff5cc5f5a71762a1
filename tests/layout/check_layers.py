#!/usr/bin/env python3
"""Checks the include arrows between the project's folders (docs/architecture.md).

Every #include "..." of a C++ file must point to a folder its own folder may use. A rule names
a folder (the longest matching prefix wins) and the prefixes its files may include; quoted
includes of generated protos ("desfired/v1/...", "google/...", "grpc/...") count as "proto",
and <grpc...>/"grpcpp/..."/"google/protobuf/..." as "grpc".

  check_layers.py REPO_ROOT      exit 0: every arrow allowed; 1: each violation printed

Also fails when a file under core/ or server/ (but the emulator's card.cc, one concept) has
more than 800 lines.
"""
import os
import re
import sys

CORE_ALL = ["core/util", "core/crypto", "core/keys", "core/tap", "core/apdu", "core/desfire",
            "core/pcsc", "core/cardops", "core/ledger", "core/pkcs11", "core/fleet"]

# folder -> the folders (prefixes) its files may include, besides their own folder.
RULES = {
    "core/util": [],
    "core/crypto": ["core/util"],
    "core/keys": ["core/util", "core/crypto"],
    "core/tap": ["core/util", "core/crypto", "core/keys"],
    "core/apdu": ["core/util", "core/crypto"],
    "core/desfire": ["core/util", "core/crypto", "core/keys", "core/apdu"],
    "core/pcsc": ["core/util", "core/apdu"],
    "core/cardops": ["core/util", "core/crypto", "core/keys", "core/apdu", "core/desfire",
                     "core/tap"],
    "core/ledger": ["core/util"],
    "core/fleet": ["core/util", "core/ledger"],
    "core/pkcs11": ["core/util", "core/crypto", "core/keys"],
    "proto/convert": CORE_ALL + ["proto", "grpc"],
    "sim": ["core/util", "core/crypto"],
    "server/readers": CORE_ALL + ["server/readers", "server/security"],
    "server/http": CORE_ALL + ["proto", "grpc", "server/http", "server/security",
                               "server/observability", "server/dashboard"],
    "server/dashboard": [],
    "server": CORE_ALL + ["proto", "grpc", "server"],
    "client": CORE_ALL + ["proto", "grpc", "client"],
    "bench/server": CORE_ALL + ["proto", "grpc", "bench", "server", "tests/testing"],
    "bench": CORE_ALL + ["proto", "grpc", "bench", "sim", "client", "tests/integration",
                         "tests/testing"],
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
MAX_LINES = 800
LONG_OK = {"sim/card/card.cc"}


def classify(path, bracket):
    """The folder an include points to, or None for the standard library and third parties."""
    if path.startswith(("grpcpp/", "grpc/grpc", "google/protobuf/")) or path.startswith("grpc++"):
        return "grpc"
    if bracket == "<":
        return None
    if path.startswith(("desfired/v1/", "google/rpc/", "grpc/health/")) or path.endswith(".pb.h"):
        return "proto"
    top = path.split("/")[0]
    if top in ("core", "server", "client", "sim", "proto", "bench", "tests"):
        return path
    return None


def rule_for(rel):
    best = None
    for folder in RULES:
        if rel.startswith(folder + "/") and (best is None or len(folder) > len(best)):
            best = folder
    return best


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    bad = []
    files = 0
    for top in ("core", "server", "client", "sim", "proto/convert", "bench"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in names:
                if not name.endswith((".h", ".cc")):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root)
                folder = rule_for(rel)
                if folder is None:
                    continue
                files += 1
                own = os.path.dirname(rel)
                allowed = RULES[folder] + [folder, own]
                with open(full, encoding="utf-8") as f:
                    lines = f.readlines()
                if (rel.startswith(("core/", "server/")) and len(lines) > MAX_LINES
                        and rel not in LONG_OK):
                    bad.append(f"{rel}: {len(lines)} lines (at most {MAX_LINES})")
                for n, line in enumerate(lines, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = classify(m.group(2), m.group(1))
                    if target is None:
                        continue
                    if not any(target == a or target.startswith(a + "/") for a in allowed):
                        bad.append(f"{rel}:{n}: includes {m.group(2)} ({folder} may not)")
                    # The HTTP API sits on top of the services: only the assembly (server/*.cc,
                    # server/*.h) includes it, nothing below it in server/.
                    if (target.startswith("server/http/") and own.startswith("server/")
                            and own != "server/http"):
                        bad.append(f"{rel}:{n}: includes {m.group(2)} (only server/ itself and "
                                   "server/http may)")
    for b in bad:
        print(b)
    print(f"{files} files checked, {len(bad)} violations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
