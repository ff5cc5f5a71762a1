#!/usr/bin/python3
"""Checks the Docker deployment without a Docker engine (ctest -L docker).

    /usr/bin/python3 tests/docker/check_docker.py [--source-dir DIR] [--build-dir DIR]
                                                   [--no-self-test]

What it asserts, one output line per check (PASS / FAIL / SKIP):

docker/Dockerfile
  - stages build, runtime, demo; `docker build` without --target gives the runtime image;
  - every FROM is pinned: debian:bookworm-YYYYMMDD (build) and debian:bookworm-YYYYMMDD-slim
    (runtime), the same date, an optional @sha256 digest; never a moving tag;
  - `FROM build-${DESFIRED_BINARIES} AS build` may choose the build stage: build-source (the
    default, checked as the build stage below) or build-prebuilt, FROM scratch with only
    `COPY build/docker-prebuilt/ <build dir>/`, which scripts/docker-check --prebuilt stages
    with every binary the images copy, and the dockerignore re-includes that and nothing else
    of build/; compose passes DESFIRED_BINARIES (source by default);
  - the build stage runs scripts/setup and nothing else installs packages there; its build
    RUN is executed here with a recording `cmake` on PATH, and so is scripts/test itself: the
    configure command must be the same and the build command the same plus `--target ...`;
  - every binary copied from the build stage is one of those targets, at the path where the
    CMake build (the -B directory, the add_executable's directory) puts it, and is stripped
    there by docker/split-debug (executed too), whose debug directory the `debug` stage (FROM
    scratch, never the default) holds;
  - no VOLUME (compose names the volumes; an image VOLUME gives every container an anonymous
    one);
  - the runtime, demo and default images run as a non-root user that a RUN creates with a
    fixed uid; HEALTHCHECK runs desfired-health-probe (copied into the image) on the port the
    CMD listens on and EXPOSE names; a non-loopback --listen carries --allow-insecure-remote;
  - no secrets: no ENV/ARG named like a key, token or password, no 32+ hex-digit string, no
    ADD from a URL, no COPY of `.` outside the build stage, and no file that looks like key
    material (*.pem, *.key, *keys.conf, token files ...) in the build context once
    docker/Dockerfile.dockerignore is applied (that file also drops .git and build*/);
  - the scripts copied into the image exist, are executable and use `set -euo pipefail`;
  - every package the runtime and demo stages install exists in Debian 12 (apt-cache on this
    machine), pcscd and libccid (runtime) and vsmartcard-vpcd (demo) among them;
  - the runtime libraries cover the built binaries: each library a binary needs (readelf
    NEEDED, resolved by ldd, mapped to its package with dpkg -S) is installed by the stage or
    is part of the base image (apt and what it depends on). Skipped when not built.
docker/compose.yaml (needs python3-yaml; without it these are skipped and the exit is 77)
  - services pcscd + desfired (profile usb), pcscd-demo + card-demo + desfired-demo
    (profile demo), and postgres, nats and pcscd-N + card-N + station-N + ship-N for two
    stations (profile fleet); every service in exactly one profile; build targets exist in the
    Dockerfile; every command is a program its image installs (a script or binary it copies, or
    a Debian package of that name it installs);
  - no privileged, no cap_add, no host pid/ipc; cap_drop ALL and no-new-privileges everywhere;
  - pcscd: /dev/bus/usb bind-mounted, device cgroup rule `c 189:* rmw`, /run/udev read-only,
    a named volume on /run/pcscd shared with desfired (the demo stack has its own);
  - desfired: not root; the data volume on /var/lib/desfired; /etc/desfired bind-mounted
    read-only and --keys inside it; published on 127.0.0.1 by default, on the port it listens
    on; health check with desfired-health-probe on that port; waits for pcscd to be healthy;
  - demo: desfire-sim with a card image the demo stage installs, dialing pcscd-demo by name on
    the port of Debian's vpcd reader.conf entry over an internal network that only the two
    share (never network_mode service:, which strands the card when pcscd-demo restarts);
    desfired-demo keeps its ledger on its own named volume; the demo keys file exists, is
    mounted read-only and holds only the public demo keys of scripts/demo-server;
    desfired-demo keeps its SoftHSM2 token on a named volume of its own, and takes no PIN from
    its environment or command line; the demo stage (not the runtime) installs softhsm2;
  - fleet: the stations are published, probed and keep their ledgers as desfired-demo does,
    each with an instance id of its own; each ship-N reads station-N's ledger volume under that
    id and the credentials volume (which postgres writes) read-only, and takes no connection
    string or password from its environment or command line; postgres and nats are on
    internal networks only and publish no port;
  - docker-compose 1.29 (Debian 12) accepts the file: no top-level `name:`, no
    `create_host_path`, no `start_interval`; the first health probe of desfired comes within
    5 s (interval), pcscd's within 2 s.
docs/deployment.md covers the steps the issue asks for; README.md links it.

Then a self-test: each of ~40 mutations of the Dockerfile or compose file (an unpinned base,
USER root, privileged: true, a wrong cgroup rule, a different cmake flag ...) must make the
checks fail.

Exit status: 0 all passed; 1 a check failed; 77 everything run passed but python3-yaml is
missing, so the compose file was not checked.
"""

import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Set, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dockerfile as dfp  # noqa: E402

try:
    import yaml  # python3-yaml
except ImportError:  # pragma: no cover - depends on the machine
    yaml = None

PIN = re.compile(r"^(?:docker\.io/(?:library/)?)?debian:bookworm-(\d{8})(-slim)?"
                 r"(@sha256:[0-9a-f]{64})?$")
SECRET_VAR = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|PRIVATE|CERT", re.I)
LONG_HEX = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32,}(?![0-9a-fA-F])")
CGROUP_RULE = "c 189:* rmw"
PUBLIC_DEMO_KEY_SOURCE = "scripts/demo-server"
DEMO_TOKEN_DIR = "/var/lib/desfired-token"  # docker/demo/desfired-demo's default
FLEET_STATIONS = ("1", "2")  # the compose fleet profile's stations


def looks_secret(path: str) -> bool:
    """A file name that suggests key material, a token, a password or an environment file
    (not source code such as core/keys/secret.h or a future token_store.cc)."""
    base = os.path.basename(path).lower()
    return re.search(r"\.(pem|key|p12|pfx|jks|der|keys|env|token|tokens|secret)$|^\.env$|keys\.conf$|"
                     r"(tokens?|secrets?|passwords?)\.(txt|conf)$", base) is not None


# ---------------------------------------------------------------------------------------------
# Results


class Results:
    def __init__(self, quiet=False):
        self.failures: List[str] = []
        self.skips: List[str] = []
        self.passes = 0
        self.quiet = quiet

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passes += 1
            if not self.quiet:
                print(f"PASS {what}")
        else:
            self.failures.append(f"{what}: {detail}" if detail else what)
            if not self.quiet:
                print(f"FAIL {what}" + (f"\n     {detail}" if detail else ""))
        return ok

    def skip(self, what: str, why: str):
        self.skips.append(f"{what}: {why}")
        if not self.quiet:
            print(f"SKIP {what}: {why}")


# ---------------------------------------------------------------------------------------------
# The build context: docker/Dockerfile.dockerignore applied to the source tree


def _ignore_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif c == "*":
            out += "[^/]*"
            i += 1
        elif c == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(c)
            i += 1
    return re.compile(out + r"\Z")


def read_ignore(text: str) -> List[Tuple[bool, re.Pattern]]:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        line = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((neg, _ignore_regex(line)))
    return rules


def ignored(rel: str, rules) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents decides."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    out = False
    for neg, rx in rules:
        if any(rx.match(p) for p in prefixes):
            out = not neg
    return out


def context_files(source_dir: str, rules) -> List[str]:
    """The files a build with this context would send (relative paths)."""
    negated = [rx for neg, rx in rules if neg]

    def may_reinclude(rel_dir: str) -> bool:  # a `!pattern` may match below rel_dir
        return any(rx.pattern.startswith(re.escape(rel_dir + "/")) or
                   not rx.pattern[:1].isalnum() for rx in negated)

    out = []
    for root, dirs, files in os.walk(source_dir):
        rel_root = os.path.relpath(root, source_dir)
        rel_root = "" if rel_root == "." else rel_root + "/"
        dirs[:] = [d for d in dirs
                   if not ignored(rel_root + d, rules) or may_reinclude(rel_root + d)]
        for f in files:
            rel = rel_root + f
            if not ignored(rel, rules):
                out.append(rel)
    # Paths a developer's tree usually has, judged whether or not they exist here (a clean
    # clone has no build tree yet), so that the rules are checked against them too.
    for probe in PROBE_PATHS:
        if probe not in out and not ignored(probe, rules):
            out.append(probe)
    return sorted(out)


PROBE_PATHS = ["build/CMakeCache.txt", "build-debug/bin/desfired", ".git/config",
               "keys.conf", "etc/desfired/keys.conf"]


# ---------------------------------------------------------------------------------------------
# The build stage, executed with a recording cmake; scripts/test, executed the same way

STUB_LOGGER = """#!/usr/bin/python3
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0])] + sys.argv[1:]) + "\\n")
if "-B" in sys.argv[:-1]:
    os.makedirs(sys.argv[sys.argv.index("-B") + 1], exist_ok=True)
"""


class BuildSimulation:
    """A scratch tree with the repository's scripts/lib.sh and scripts/test (the other scripts
    replaced by no-ops) and a bin directory whose cmake, ctest and ccache only record their
    arguments."""

    def __init__(self, source_dir: str):
        self.tmp = tempfile.TemporaryDirectory(prefix="check-docker-")
        self.root = os.path.join(self.tmp.name, "root")
        self.bin = os.path.join(self.tmp.name, "bin")
        self.source_dir = source_dir
        self._cache = {}
        os.makedirs(self.bin)
        for tool in ("cmake", "ctest", "ccache", "objcopy"):
            p = os.path.join(self.bin, tool)
            with open(p, "w") as f:
                f.write(STUB_LOGGER)
            os.chmod(p, 0o755)

    def close(self):
        self.tmp.cleanup()

    def _tree(self, workdir: str) -> str:
        top = os.path.join(self.root, workdir.lstrip("/"))
        if os.path.exists(top):
            shutil.rmtree(top)
        os.makedirs(os.path.join(top, "scripts"))
        # lib.sh, test and docker/split-debug as they are; every other script (setup, fuzz ...)
        # a no-op.
        os.makedirs(os.path.join(top, "docker"))
        shutil.copy2(os.path.join(self.source_dir, "docker", "split-debug"),
                     os.path.join(top, "docker", "split-debug"))
        for name in os.listdir(os.path.join(self.source_dir, "scripts")):
            p = os.path.join(top, "scripts", name)
            if name in ("lib.sh", "test"):
                shutil.copy2(os.path.join(self.source_dir, "scripts", name), p)
            else:
                with open(p, "w") as f:
                    f.write("#!/bin/sh\nexit 0\n")
                os.chmod(p, 0o755)
        return top

    def _run(self, argv, cwd, extra_env) -> Tuple[int, List[List[str]], str]:
        log = os.path.join(self.tmp.name, "log")
        if os.path.exists(log):
            os.remove(log)
        env = {"PATH": f"{self.bin}:/usr/bin:/bin", "HOME": self.tmp.name, "STUB_LOG": log}
        env.update(extra_env)
        p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
        calls = []
        if os.path.exists(log):
            with open(log) as f:
                calls = [json.loads(line) for line in f]
        return p.returncode, calls, p.stderr

    def scripts_test(self) -> Tuple[int, List[List[str]], str]:
        top = self._tree("/src")
        return self._run([os.path.join(top, "scripts", "test")], top, {"FUZZ_SECONDS": "0"})

    @staticmethod
    def stripped(calls, workdir: str) -> Set[str]:
        """The binaries (container paths) that the recorded objcopy calls stripped."""
        return {os.path.normpath(os.path.join(workdir, c[-1])) for c in calls
                if c[0] == "objcopy" and "--strip-all" in c}

    @staticmethod
    def debug_dirs(calls, workdir: str) -> Set[str]:
        """The directories the recorded objcopy --only-keep-debug calls wrote to."""
        return {os.path.dirname(os.path.normpath(os.path.join(workdir, c[-1]))) for c in calls
                if c[0] == "objcopy" and "--only-keep-debug" in c}

    def docker_build_stage(self, stage: dfp.Stage):
        """Runs the build stage's RUN lines (all but scripts/setup) the way `docker build`
        would: /bin/sh -c in the WORKDIR, with the stage's ENV and ARG values. Cached by the
        stage's text (the self-test runs it for every mutation)."""
        key = repr([(i.keyword, i.flags, i.args) for i in stage.instructions])
        if key not in self._cache:
            self._cache[key] = self._docker_build_stage(stage)
        return self._cache[key]

    def _docker_build_stage(self, stage: dfp.Stage):
        workdir, env, calls, errors = "/", {}, [], []
        top = None
        for ins in stage.instructions:
            if ins.keyword == "WORKDIR":
                workdir = os.path.join(workdir, ins.args)
            elif ins.keyword in ("ENV", "ARG"):
                for w in shlex.split(ins.args):
                    k, _, v = w.partition("=")
                    if v or ins.keyword == "ENV":
                        env[k] = v
            elif ins.keyword == "RUN":
                if ins.words() in (["scripts/setup"], ["./scripts/setup"]):
                    continue
                top = top or self._tree(workdir)
                argv = ins.exec_form or ["/bin/sh", "-c", ins.args]
                rc, c, err = self._run(argv, os.path.join(self.root, workdir.lstrip("/")), env)
                calls += c
                if rc != 0:
                    errors.append(f"RUN at line {ins.line} exited {rc}: {err.strip()[-300:]}")
        return calls, errors

    def container_path(self, host_path: str) -> str:
        return "/" + os.path.relpath(host_path, self.root)


def split_cmake(calls) -> Tuple[Optional[List[str]], Optional[List[str]]]:
    configure = [c for c in calls if c[0] == "cmake" and "-S" in c]
    build = [c for c in calls if c[0] == "cmake" and "--build" in c]
    return (configure[0] if len(configure) == 1 else None,
            build[0] if len(build) == 1 else None)


def normalize_jobs(argv: List[str]) -> List[str]:
    return ["-j*" if re.fullmatch(r"-j\d*", a) else a for a in argv]


def executable_dirs(source_dir: str) -> Dict[str, str]:
    """add_executable(name ...) -> the directory of its CMakeLists.txt, relative."""
    out = {}
    for root, dirs, files in os.walk(source_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not d.startswith("build")]
        if "CMakeLists.txt" in files:
            with open(os.path.join(root, "CMakeLists.txt")) as f:
                for m in re.finditer(r"add_executable\(\s*([\w.+-]+)", f.read()):
                    out[m.group(1)] = os.path.relpath(root, source_dir)
    return out


# ---------------------------------------------------------------------------------------------
# Static checks


class Context:
    def __init__(self, source_dir: str, build_dir: Optional[str]):
        self.source_dir = source_dir
        self.build_dir = build_dir
        self.sim = BuildSimulation(source_dir)
        self.exe_dirs = executable_dirs(source_dir)
        self._test_run = None
        self._context_cache: Dict[str, List[str]] = {}

    def scripts_test_calls(self):
        if self._test_run is None:
            self._test_run = self.sim.scripts_test()
        return self._test_run

    def context(self, ignore_text: str) -> List[str]:
        if ignore_text not in self._context_cache:
            self._context_cache[ignore_text] = context_files(self.source_dir, read_ignore(ignore_text))
        return self._context_cache[ignore_text]

    def close(self):
        self.sim.close()


def arg_defaults(df: dfp.Dockerfile, stage: dfp.Stage) -> Dict[str, str]:
    out = {}
    for s in df.chain(stage):
        for ins in s.all("ARG") + s.all("ENV"):
            for w in shlex.split(ins.args):
                k, _, v = w.partition("=")
                out[k] = v
    return out


def installed_files(df: dfp.Dockerfile, stage: dfp.Stage) -> Dict[str, Tuple[str, str]]:
    """Path in the image -> (origin, source) for every COPY of the stage and its bases;
    origin is a stage name or "context"."""
    out = {}
    for s in df.chain(stage):
        for ins in s.all("COPY") + s.all("ADD"):
            sources, dest = dfp.copy_sources_and_dest(ins)
            for src in sources:
                path = dest + os.path.basename(src.rstrip("/")) if dest.endswith("/") else dest
                out[path] = (ins.flags.get("from", "context"), src)
    return out


def stage_packages(df: dfp.Dockerfile, stage: dfp.Stage) -> List[str]:
    out = []
    for s in df.chain(stage):
        if s.name == "build":
            continue
        for run in s.all("RUN"):
            out += dfp.apt_packages(run)
    return out


def listen_of(words: List[str]) -> Optional[str]:
    for i, w in enumerate(words):
        if w.startswith("--listen="):
            return w.split("=", 1)[1]
        if w == "--listen" and i + 1 < len(words):
            return words[i + 1]
    return None


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1", "[::1]") or host.startswith("127.")


PREBUILT_DIR = "build/docker-prebuilt"
# desfired takes a flag with dashes or underscores (server/flag_spelling.h).
INSECURE_FLAGS = {"--allow-insecure-remote", "--allow_insecure_remote"}


def check_prebuilt(r: Results, df: dfp.Dockerfile, build: dfp.Stage, bdir: str,
                   ignore_text: Optional[str], ctx: Context):
    """The build-prebuilt stage (scripts/docker-check --prebuilt): it takes from the context
    exactly what docker-check stages in build/docker-prebuilt, laid out as the build stage's
    build directory, and nothing else of the host's build tree."""
    alias = df.stage("build")
    if alias is build:
        return  # one build stage, no choice of binaries
    arg = re.fullmatch(r"build-\$\{?(\w+)\}?", alias.base_raw or "")
    r.check(arg is not None and df.global_args.get(arg.group(1)) == "source" and
            build.name == "build-source",
            "`FROM build-${DESFIRED_BINARIES} AS build`, the source build by default",
            f"FROM {alias.base_raw}; global ARGs {df.global_args}")
    if not df.has_stage("build-prebuilt"):
        r.check(False, "a build-prebuilt stage", f"stages {[s.name for s in df.stages]}")
        return
    pre = df.stage("build-prebuilt")
    copies = [dfp.copy_sources_and_dest(i) for i in pre.instructions if i.keyword == "COPY"]
    others = [f"line {i.line}: {i.keyword}" for i in pre.instructions if i.keyword != "COPY"]
    r.check(pre.base == "scratch" and not others and
            copies == [([PREBUILT_DIR + "/"], bdir.rstrip("/") + "/")],
            f"build-prebuilt: FROM scratch, only COPY {PREBUILT_DIR}/ {bdir}/",
            f"FROM {pre.base}; COPY {copies}; {others}")
    # What docker-check stages: every binary the images copy from the build stage, and the
    # debug directory, under the same path relative to the build directory.
    wanted = set()
    for s in df.stages:
        for ins in s.all("COPY"):
            if ins.flags.get("from") == "build":
                wanted |= {os.path.relpath(os.path.normpath(src), bdir)
                           for src in dfp.copy_sources_and_dest(ins)[0]}
    check_text = open(os.path.join(ctx.source_dir, "scripts", "docker-check")).read()
    missing = sorted(w for w in wanted if w not in check_text)
    r.check(PREBUILT_DIR in check_text and not missing,
            f"scripts/docker-check --prebuilt stages {sorted(wanted)} in {PREBUILT_DIR}",
            f"not named in scripts/docker-check: {missing}")
    if ignore_text is not None:
        rules = read_ignore(ignore_text)
        sent = [p for p in (PREBUILT_DIR + "/server/desfired", PREBUILT_DIR + "/debug/desfired.debug")
                if not ignored(p, rules)]
        kept = [p for p in ("build/CMakeCache.txt", "build/server/desfired", "build/docker-prebuiltx",
                            "build/tests/keys.conf", PREBUILT_DIR + "/keys.conf")
                if not ignored(p, rules)]
        r.check(len(sent) == 2 and not kept,
                f"the build context has {PREBUILT_DIR} and nothing else of build/",
                f"sent {sent}; also sent {kept}")


def check_dockerfile(r: Results, df: dfp.Dockerfile, ignore_text: Optional[str], ctx: Context):
    names = [s.name for s in df.stages]
    for n in ("build", "runtime", "demo"):
        r.check(df.has_stage(n), f"Dockerfile has a `{n}` stage", f"stages: {names}")
    if not all(df.has_stage(n) for n in ("build", "runtime", "demo")):
        return
    build, runtime, demo, last = df.stage("build"), df.stage("runtime"), df.stage("demo"), df.stages[-1]
    # `build` may name, through the build argument DESFIRED_BINARIES, the stage that makes the
    # binaries: build-source (the default, checked below as the build stage) or build-prebuilt.
    if not build.instructions and df.is_stage_name(build.base):
        build = df.stage(build.base)
    r.check(last is runtime or (last.base == "runtime" and not last.instructions),
            "a build without --target gives the runtime image",
            f"the last stage is FROM {last.base} ({last.name})")

    # Pinned bases, one Debian date.
    dates = {}
    for s in df.stages:
        if df.is_stage_name(s.base) or s.base == "scratch":
            continue
        m = PIN.match(s.base)
        ok = m is not None
        if ok:
            try:
                datetime.datetime.strptime(m.group(1), "%Y%m%d")
            except ValueError:
                ok = False
        r.check(ok, f"FROM {s.base} is pinned (debian:bookworm-YYYYMMDD[-slim][@sha256:...])",
                "a moving tag (latest, bookworm, bookworm-slim, 12) changes under the build")
        if ok:
            dates[s.name] = (m.group(1), bool(m.group(2)))
    if build.name in dates and "runtime" in dates:
        r.check(not dates[build.name][1] and dates["runtime"][1],
                "build stage on debian:bookworm-*, runtime on debian:bookworm-*-slim",
                f"{build.base} / {runtime.base}")
        r.check(dates[build.name][0] == dates["runtime"][0],
                "build and runtime bases are the same Debian image date",
                f"{build.base} vs {runtime.base}")

    # Build stage: scripts/setup, then the same CMake build as scripts/test.
    runs = build.all("RUN")
    setup_runs = [i for i in runs if i.words() in (["scripts/setup"], ["./scripts/setup"])]
    copies_setup = [i for i in build.all("COPY")
                    if "scripts/setup" in dfp.copy_sources_and_dest(i)[0] or
                    "." in dfp.copy_sources_and_dest(i)[0]]
    r.check(len(setup_runs) == 1 and copies_setup and copies_setup[0].line < setup_runs[0].line,
            "build stage copies scripts/setup and runs it (the packages CI installs)",
            "expected `COPY scripts/setup scripts/setup` then `RUN scripts/setup`")
    apt_in_build = [i.line for i in runs if re.search(r"\bapt(-get)?\b|\bdpkg\b", i.args)]
    r.check(not apt_in_build, "build stage installs packages only through scripts/setup",
            f"apt-get/dpkg at lines {apt_in_build}")

    rc, test_calls, err = ctx.scripts_test_calls()
    t_conf, t_build = split_cmake(test_calls)
    if not r.check(rc == 0 and t_conf and t_build,
                   "scripts/test runs one cmake configure and one cmake --build",
                   f"exit {rc}, calls {test_calls} {err[-300:]}"):
        return
    d_calls, errors = ctx.sim.docker_build_stage(build)
    d_conf, d_build = split_cmake(d_calls)
    r.check(not errors and d_conf and d_build,
            "the build stage's RUN runs one cmake configure and one cmake --build",
            "; ".join(errors) or f"calls {d_calls}")
    if not (d_conf and d_build):
        return
    r.check(d_conf == t_conf, "build stage configures exactly as scripts/test",
            f"\n       docker: {' '.join(d_conf)}\n       test:   {' '.join(t_conf)}")
    head = normalize_jobs(d_build[:len(t_build)])
    extra = d_build[len(t_build):]
    r.check(head == normalize_jobs(t_build) and (not extra or (extra[0] == "--target" and len(extra) > 1)),
            "build stage builds as scripts/test (plus --target ...)",
            f"\n       docker: {' '.join(d_build)}\n       test:   {' '.join(t_build)}")
    targets = extra[1:] if extra else sorted(ctx.exe_dirs)
    bdir = ctx.sim.container_path(d_conf[d_conf.index("-B") + 1])

    # Binaries copied out of the build stage: built targets, stripped; the debug info apart.
    build_workdir = (df.effective(build, "WORKDIR").args if df.effective(build, "WORKDIR") else "/")
    stripped = ctx.sim.stripped(d_calls, build_workdir)
    debug_dirs = ctx.sim.debug_dirs(d_calls, build_workdir)
    for s in df.stages:
        for ins in s.all("COPY"):
            if ins.flags.get("from") != "build":
                continue
            for src in dfp.copy_sources_and_dest(ins)[0]:
                if s.name == "debug":
                    r.check(s.base == "scratch" and os.path.normpath(src) in debug_dirs,
                            f"debug: FROM scratch, COPY --from=build {src}: the split-debug output",
                            f"split-debug wrote to {sorted(debug_dirs)}")
                    continue
                r.check(src in stripped, f"{s.name or 'final'}: {src} is stripped in the build stage",
                        f"docker/split-debug stripped {sorted(stripped)}")
                name = os.path.basename(src)
                want = os.path.join(bdir, ctx.exe_dirs.get(name, "?"), name)
                r.check(name in targets and src == want,
                        f"{s.name or 'final'}: COPY --from=build {src} is a built target",
                        f"targets {targets}; CMake puts {name} at {want}")

    check_prebuilt(r, df, build, bdir, ignore_text, ctx)

    # Users, health check, CMD.
    useradds = [i for s in df.chain(runtime) for i in s.all("RUN") if "useradd" in i.args]
    args = arg_defaults(df, runtime)
    for s in (runtime, demo, last):
        user = df.effective(s, "USER")
        u = user.args.split(":")[0] if user else "root"
        created = False
        for i in useradds:
            text = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), i.args)
            m = re.search(r"--uid\s+\"?(\d+)\"?.*\b" + re.escape(u) + r"\b", text)
            created = created or (m is not None and int(m.group(1)) >= 1000)
        r.check(u not in ("root", "0", "") and created,
                f"{s.name or 'final'} image runs as a non-root user ({u}) created with a fixed uid",
                "USER must name a user that a RUN creates with useradd --uid N (N >= 1000)")
    files = installed_files(df, runtime)
    hc = df.effective(runtime, "HEALTHCHECK")
    hc_cmd = dfp.healthcheck_command(hc) if hc else None
    cmd = df.effective(runtime, "CMD")
    expose = [w for s in df.chain(runtime) for i in s.all("EXPOSE") for w in i.args.split()]
    listen = listen_of(cmd.words()) if cmd else None
    port = listen.rsplit(":", 1)[1] if listen else None
    probe_ok = bool(hc_cmd) and hc_cmd[0] in ("desfired-health-probe",
                                              "/usr/local/bin/desfired-health-probe")
    r.check(probe_ok and "/usr/local/bin/desfired-health-probe" in files,
            "HEALTHCHECK runs desfired-health-probe, which the image installs", f"{hc_cmd}")
    addr = hc_cmd[hc_cmd.index("--addr") + 1] if hc_cmd and "--addr" in hc_cmd else "127.0.0.1:50051"
    r.check(port is not None and addr.endswith(":" + port) and port in expose,
            "the probe, EXPOSE and desfired's --listen use one port",
            f"probe {addr}, EXPOSE {expose}, --listen {listen}")
    if listen:
        host = listen.rsplit(":", 1)[0]
        r.check(is_loopback(host) or bool(INSECURE_FLAGS & set(cmd.words())),
                "CMD: a non-loopback --listen carries --allow-insecure-remote (no TLS yet)",
                f"{cmd.args}")
    vols = [f"line {i.line}" for s in df.stages for i in s.all("VOLUME")]
    r.check(not vols, "no VOLUME (compose names the ledger's volume; no anonymous volumes)",
            f"{vols}")
    r.check(df.has_stage("debug") and df.stage("debug").base == "scratch",
            "a `debug` stage FROM scratch with the debug info", f"stages {names}")

    # No secrets: each rule is one check over every instruction; the offenders are named.
    secret_vars, hex_lines, downloads, whole_context, key_copies = [], [], [], [], []
    for s in df.stages:
        for ins in s.instructions:
            where = f"line {ins.line}"
            if ins.keyword in ("ENV", "ARG"):
                secret_vars += [f"{where}: {w.partition('=')[0]}" for w in shlex.split(ins.args)
                                if SECRET_VAR.search(w.partition("=")[0])]
            m = LONG_HEX.search(ins.args)
            if m:
                hex_lines.append(f"{where}: {m.group(0)[:12]}...")
            if ins.keyword == "ADD" and re.search(r"https?://|git@", ins.args):
                downloads.append(where)
            if ins.keyword in ("COPY", "ADD") and "from" not in ins.flags:
                sources = dfp.copy_sources_and_dest(ins)[0]
                if s is not build and any(src in (".", "./", "*") for src in sources):
                    whole_context.append(where)
                key_copies += [f"{where}: {src}" for src in sources if looks_secret(src)]
    r.check(not secret_vars, "no ENV or ARG named like a key, token, password or certificate",
            f"{secret_vars} (mount them at run time)")
    r.check(not hex_lines, "no key-like hex string (32+ hex digits) in any instruction",
            f"{hex_lines}")
    r.check(not downloads, "no ADD downloads anything", f"{downloads}")
    r.check(not whole_context, "only the build stage copies the whole context", f"{whole_context}")
    r.check(not key_copies, "no COPY of key material", f"{key_copies}")
    if ignore_text is None:
        r.check(False, "docker/Dockerfile.dockerignore exists",
                "without it `COPY . .` sends build trees, .git and any stray key file")
    else:
        files_in_context = ctx.context(ignore_text)
        secret = [f for f in files_in_context if looks_secret(f)]
        r.check(not secret, "no key material in the build context", f"{secret[:5]}")
        leaked = [f for f in files_in_context
                  if f.startswith(".git/") or
                  (re.match(r"build[^/]*/", f) and not f.startswith(PREBUILT_DIR + "/"))]
        r.check(not leaked, f"the build context has no .git or build*/ trees (but {PREBUILT_DIR})",
                f"{leaked[:3]}")
        for s in df.stages:
            for ins in s.all("COPY"):
                if "from" in ins.flags:
                    continue
                for src in dfp.copy_sources_and_dest(ins)[0]:
                    src = src.rstrip("/")
                    if src == PREBUILT_DIR:
                        continue  # made by docker-check --prebuilt; check_prebuilt covers it
                    hit = src in (".", "") or src in files_in_context or any(
                        f.startswith(src + "/") for f in files_in_context)
                    r.check(hit, f"line {ins.line}: COPY source {src} is in the build context")

    # Scripts that the image runs.
    for path, (origin, src) in sorted(installed_files(df, demo).items()):
        if origin != "context" or not path.startswith("/usr/local/bin/"):
            continue
        p = os.path.join(ctx.source_dir, src)
        ok = os.path.isfile(p) and os.access(p, os.X_OK)
        text = open(p).read() if os.path.isfile(p) else ""
        r.check(ok and text.startswith("#!/bin/bash") and "set -euo pipefail" in text,
                f"{src} is an executable bash script with set -euo pipefail")

    # Packages.
    pk_runtime = stage_packages(df, runtime)
    pk_demo = stage_packages(df, demo)
    r.check({"pcscd", "libccid"} <= set(pk_runtime), "runtime stage installs pcscd and libccid",
            f"{pk_runtime}")
    r.check("vsmartcard-vpcd" in pk_demo, "demo stage installs vsmartcard-vpcd", f"{pk_demo}")
    r.check("softhsm2" in pk_demo and "softhsm2" not in pk_runtime,
            "demo stage installs softhsm2 (the demo's token), the runtime stage does not",
            f"runtime {pk_runtime}, demo {pk_demo}")
    for s in (runtime, demo):
        for run in s.all("RUN"):
            if dfp.apt_packages(run):
                r.check("--no-install-recommends" in run.args and "rm -rf /var/lib/apt/lists" in run.args,
                        f"line {run.line}: apt-get install --no-install-recommends, lists removed")


# ---------------------------------------------------------------------------------------------
# compose.yaml


def interpolate_default(text: str) -> str:
    """${VAR:-default} and ${VAR-default} -> default; ${VAR} -> '' (what an empty env gives)."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", str(text))


def mounts(svc) -> List[dict]:
    out = []
    for v in svc.get("volumes", []) or []:
        if isinstance(v, dict):
            out.append({"type": v.get("type", "volume"), "source": interpolate_default(v.get("source", "")),
                        "target": v.get("target"), "read_only": bool(v.get("read_only", False))})
        else:
            parts = interpolate_default(v).split(":")
            src, tgt = parts[0], parts[1] if len(parts) > 1 else parts[0]
            kind = "bind" if src.startswith((".", "/", "~")) else "volume"
            out.append({"type": kind, "source": src, "target": tgt,
                        "read_only": len(parts) > 2 and "ro" in parts[2].split(",")})
    return out


def mount_at(svc, target) -> Optional[dict]:
    return next((m for m in mounts(svc) if m["target"] == target), None)


def command_of(svc) -> List[str]:
    c = svc.get("command", [])
    return shlex.split(c) if isinstance(c, str) else [str(x) for x in c]


def duration_s(text) -> float:
    """A compose duration (1m30s, 5s, 500ms) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text))
    return sum(float(n) * units[u] for n, u in parts) if parts else float("inf")


COMPOSE_129_TOP = {"version", "services", "volumes", "networks", "configs", "secrets"}
COMPOSE_129_UNKNOWN = ("create_host_path", "start_interval")


def walk_keys(node):
    if isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from walk_keys(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk_keys(v)


def check_compose(r: Results, c: dict, compose_dir: str, df: dfp.Dockerfile, ctx: Context):
    services = c.get("services", {}) or {}
    top = [k for k in c if k not in COMPOSE_129_TOP and not str(k).startswith("x-")]
    r.check(not top, "compose: docker-compose 1.29 (Debian 12) knows every top-level key",
            f"{top} (1.29 rejects a top-level name:; use COMPOSE_PROJECT_NAME or -p)")
    unknown = sorted({k for k in walk_keys(services) if k in COMPOSE_129_UNKNOWN})
    r.check(not unknown, "compose: no option that docker-compose 1.29 rejects", f"{unknown}")
    want = {"usb": ["pcscd", "desfired"], "demo": ["pcscd-demo", "card-demo", "desfired-demo"],
            "fleet": ["postgres", "nats"] + [f"{s}-{n}" for n in FLEET_STATIONS
                                             for s in ("pcscd", "card", "station", "ship")]}
    for profile, names in want.items():
        for n in names:
            r.check(n in services and services[n].get("profiles") == [profile],
                    f"compose: service {n} is in profile {profile}",
                    f"profiles: {services.get(n, {}).get('profiles')}")
    for name, svc in services.items():
        p = svc.get("profiles") or []
        r.check(len(p) == 1 and p[0] in want, f"compose: {name} is in exactly one profile",
                "a service without a profile would start beside the other stack")
    declared = set((c.get("volumes") or {}).keys())

    for name, svc in services.items():
        r.check(svc.get("privileged") is not True, f"compose: {name} is not privileged")
        r.check(not svc.get("cap_add"), f"compose: {name} adds no capability", f"{svc.get('cap_add')}")
        r.check(svc.get("pid") != "host" and svc.get("ipc") != "host",
                f"compose: {name} shares no host pid/ipc namespace")
        r.check(svc.get("cap_drop") == ["ALL"] and "no-new-privileges:true" in (svc.get("security_opt") or []),
                f"compose: {name} drops all capabilities, no-new-privileges")
        for m in mounts(svc):
            if m["type"] == "volume":
                r.check(m["source"] in declared, f"compose: {name}: volume {m['source']} is declared")
        env = svc.get("environment") or {}
        items = env.items() if isinstance(env, dict) else [e.split("=", 1) + [""] for e in env]
        for k, *v in items:
            r.check(not (SECRET_VAR.search(k) and v and v[0]),
                    f"compose: {name}: no secret value in the environment ({k})")
        # The image.
        build = svc.get("build") or {}
        target = build.get("target")
        dockerfile_path = os.path.normpath(os.path.join(compose_dir, build.get("context", "."),
                                                        build.get("dockerfile", "Dockerfile")))
        r.check(target is not None and df.has_stage(target) and
                os.path.samefile(dockerfile_path, os.path.join(compose_dir, "Dockerfile")),
                f"compose: {name} builds stage {target} of docker/Dockerfile",
                f"{dockerfile_path}")
        if not (target and df.has_stage(target)):
            continue
        if df.global_args.get("DESFIRED_BINARIES"):
            bargs = build.get("args") or {}
            if isinstance(bargs, list):
                bargs = dict(a.split("=", 1) for a in bargs if "=" in a)
            r.check(bargs.get("DESFIRED_BINARIES") == "${DESFIRED_BINARIES:-source}",
                    f"compose: {name} passes DESFIRED_BINARIES to the build (source by default)",
                    f"build args {bargs}")
        stage = df.stage(target)
        files = installed_files(df, stage)
        pk = stage_packages(df, stage)
        cmd = command_of(svc)
        prog = cmd[0] if cmd else (df.effective(stage, "CMD").words()[0])
        # A program of the image's own scripts or binaries, or of a Debian package of that
        # name the stage installs (pcscd, nats-server).
        provided = ("/usr/local/bin/" + prog in files or prog in files or prog in pk or
                    prog in ("test", "sh", "bash"))
        r.check(provided, f"compose: {name} runs {prog}, which image {target} installs")
        user = svc.get("user")
        runs_pcscd = prog == "pcscd-foreground" or prog == "pcscd"
        if runs_pcscd:
            r.check(user in ("root", "0"), f"compose: {name} (pcscd) runs as root to open USB devices")
            hc = (svc.get("healthcheck") or {}).get("test", [])
            r.check("/run/pcscd/pcscd.comm" in hc, f"compose: {name} health check waits for pcscd's socket",
                    f"{hc}")
            r.check((mount_at(svc, "/run/pcscd") or {}).get("type") == "volume",
                    f"compose: {name} puts its socket on a named volume at /run/pcscd")
        else:
            image_user = df.effective(stage, "USER")
            eff = user if user is not None else (image_user.args if image_user else "root")
            r.check(str(eff).split(":")[0] not in ("root", "0", ""), f"compose: {name} runs as non-root",
                    f"user {eff}")

    # USB stack.
    pcscd, desfired = services.get("pcscd", {}), services.get("desfired", {})
    usb = mount_at(pcscd, "/dev/bus/usb")
    r.check(usb is not None and usb["type"] == "bind" and usb["source"] == "/dev/bus/usb"
            and not usb["read_only"],
            "compose: pcscd has /dev/bus/usb bind-mounted (a re-plugged reader's new node shows up)",
            f"{usb}")
    r.check(pcscd.get("device_cgroup_rules") == [CGROUP_RULE],
            f"compose: pcscd has device cgroup rule `{CGROUP_RULE}`", f"{pcscd.get('device_cgroup_rules')}")
    udev = mount_at(pcscd, "/run/udev")
    r.check(udev is not None and udev["read_only"], "compose: pcscd sees /run/udev read-only", f"{udev}")
    r.check(pcscd.get("network_mode") == "host",
            "compose: pcscd in the host network namespace (udev hotplug events)")
    s1, s2 = mount_at(pcscd, "/run/pcscd"), mount_at(desfired, "/run/pcscd")
    r.check(s1 is not None and s2 is not None and s1["source"] == s2["source"],
            "compose: desfired shares pcscd's /run/pcscd volume", f"{s1} / {s2}")
    data = mount_at(desfired, "/var/lib/desfired")
    r.check(data is not None and data["type"] == "volume" and not data["read_only"],
            "compose: desfired has the data volume on /var/lib/desfired", f"{data}")
    conf = mount_at(desfired, "/etc/desfired")
    r.check(conf is not None and conf["type"] == "bind" and conf["read_only"],
            "compose: desfired's /etc/desfired is a read-only bind mount", f"{conf}")
    keys = next((w.split("=", 1)[1] for w in command_of(desfired) if w.startswith("--keys=")), None)
    ro_targets = [m["target"] for m in mounts(desfired) if m["read_only"]]
    r.check(keys is not None and any(keys.startswith(t.rstrip("/") + "/") for t in ro_targets),
            "compose: desfired's --keys file is on a read-only mount", f"--keys {keys}, ro {ro_targets}")
    dep = (desfired.get("depends_on") or {}).get("pcscd", {})
    r.check(dep.get("condition") == "service_healthy", "compose: desfired waits for a healthy pcscd")

    for name in ("desfired", "desfired-demo") + tuple(f"station-{n}" for n in FLEET_STATIONS):
        svc = services.get(name, {})
        listen = listen_of(command_of(svc)) or ""
        lport = listen.rsplit(":", 1)[-1]
        ports = [interpolate_default(p) for p in svc.get("ports", [])]
        ok = bool(ports)
        for p in ports:
            parts = p.split(":")
            ok = ok and len(parts) == 3 and is_loopback(parts[0]) and parts[2] == lport
        r.check(ok, f"compose: {name} is published on 127.0.0.1 by default, on the port it listens on",
                f"ports {ports}, --listen {listen}")
        hc = (svc.get("healthcheck") or {}).get("test", [])
        r.check(len(hc) > 2 and hc[1] == "desfired-health-probe" and
                any(str(x).endswith(":" + lport) for x in hc),
                f"compose: {name} health check runs desfired-health-probe on :{lport}", f"{hc}")
        r.check(not listen or is_loopback(listen.rsplit(":", 1)[0]) or
                bool(INSECURE_FLAGS & set(command_of(svc))),
                f"compose: {name}'s non-loopback --listen carries --allow-insecure-remote")
        interval = duration_s((svc.get("healthcheck") or {}).get("interval", "30s"))
        r.check(interval <= 5, f"compose: {name}'s first health probe within 5 s (interval)",
                f"interval {interval} s: the first probe waits one interval")
        data = mount_at(svc, "/var/lib/desfired")
        r.check(data is not None and data["type"] == "volume" and not data["read_only"],
                f"compose: {name} keeps its ledger on a named volume on /var/lib/desfired", f"{data}")
    d1, d2 = (mount_at(services.get(n, {}), "/var/lib/desfired") for n in ("desfired", "desfired-demo"))
    r.check(d1 is not None and d2 is not None and d1["source"] != d2["source"],
            "compose: the demo's ledger volume is not the production one")
    for name in ("pcscd", "pcscd-demo"):
        interval = duration_s(((services.get(name) or {}).get("healthcheck") or {}).get("interval", "30s"))
        r.check(interval <= 2, f"compose: {name}'s first health probe within 2 s (interval)",
                f"interval {interval} s (desfired waits for it)")

    # Demo stack.
    pdemo, card, ddemo = (services.get(n, {}) for n in ("pcscd-demo", "card-demo", "desfired-demo"))
    s1, s2 = mount_at(pdemo, "/run/pcscd"), mount_at(ddemo, "/run/pcscd")
    r.check(s1 is not None and s2 is not None and s1["source"] == s2["source"] and
            s1["source"] != (mount_at(pcscd, "/run/pcscd") or {}).get("source"),
            "compose: the demo stack has its own pcscd socket volume, shared by desfired-demo")
    r.check("network_mode" not in card and "network_mode" not in pdemo,
            "compose: card-demo does not join pcscd-demo's namespace (a restart would strand it)",
            f"network_mode {card.get('network_mode')} / {pdemo.get('network_mode')}")
    networks = c.get("networks") or {}
    shared = set(card.get("networks") or []) & set(pdemo.get("networks") or [])
    others = [n for n, svc in services.items() if n not in ("card-demo", "pcscd-demo") and
              shared & set(svc.get("networks") or [])]
    r.check(len(shared) == 1 and all((networks.get(n) or {}).get("internal") is True for n in shared)
            and not others and set(pdemo.get("networks") or []) == shared,
            "compose: card-demo reaches vpcd over an internal network only the two share",
            f"shared {sorted(shared)}, others on it {others}, pcscd-demo {pdemo.get('networks')}")
    r.check(card.get("restart") == "unless-stopped", "compose: card-demo restarts unless stopped")
    ccmd = command_of(card)
    image = ccmd[ccmd.index("--image") + 1] if "--image" in ccmd else None
    vpcd = ccmd[ccmd.index("--vpcd") + 1] if "--vpcd" in ccmd else ""
    demo_files = installed_files(df, df.stage("demo")) if df.has_stage("demo") else {}
    r.check(ccmd[:1] == ["desfire-sim"] and image in demo_files,
            "compose: card-demo runs desfire-sim on a card image the demo stage installs", f"{ccmd}")
    conf_path = "/etc/reader.conf.d/vpcd"  # Debian's vsmartcard-vpcd, as the demo image has it
    if os.path.exists(conf_path):
        m = re.search(r"^\s*DEVICENAME\s+\S*:(\S+)", open(conf_path).read(), re.M)
        port = int(m.group(1), 0) if m else None
        r.check(vpcd == f"pcscd-demo:{port}",
                f"compose: card-demo connects to vpcd's first reader (port {port} in {conf_path})",
                f"--vpcd {vpcd}")
    else:
        r.skip("compose: card-demo's vpcd port", f"{conf_path} absent (vsmartcard-vpcd not installed)")
    dk = mount_at(ddemo, "/etc/desfired/demo-keys.conf")
    r.check(command_of(ddemo)[:1] == ["desfired-demo"] and dk is not None and dk["read_only"],
            "compose: desfired-demo mounts the demo key store read-only", f"{dk}")
    if dk:
        path = os.path.normpath(os.path.join(compose_dir, dk["source"]))
        demo_src = open(os.path.join(ctx.source_dir, PUBLIC_DEMO_KEY_SOURCE)).read()
        lines = [ln.split("#")[0].split() for ln in open(path)] if os.path.isfile(path) else []
        keys = [ln for ln in lines if ln and ln[0] == "key"]
        r.check(keys and all(re.search(r"key\s+" + re.escape(k[1]) + r"\s+" + re.escape(k[2]) +
                                       r"\s+" + re.escape(k[3]), demo_src) for k in keys),
                f"compose: {dk['source']} holds only the public demo keys of {PUBLIC_DEMO_KEY_SOURCE}")
    tok = mount_at(ddemo, DEMO_TOKEN_DIR)
    r.check(tok is not None and tok["type"] == "volume" and not tok["read_only"] and
            tok["source"] not in {(m or {}).get("source") for m in (d1, d2)},
            f"compose: desfired-demo keeps its SoftHSM2 token on a named volume of its own on "
            f"{DEMO_TOKEN_DIR}", f"{tok}")
    env = ddemo.get("environment") or {}
    env_text = " ".join(env) if isinstance(env, list) else " ".join(f"{k}={v}" for k, v in env.items())
    r.check("PIN" not in env_text.upper() and
            not any("pin" in str(w).lower() for w in command_of(ddemo)),
            "compose: desfired-demo takes no PIN from its environment or command line", env_text)
    check_fleet(r, c)


def check_fleet(r: Results, c: dict):
    """The fleet profile: each station's shipper reads that station's ledger volume, with the
    credentials read-only from the volume fleet-postgres writes, never from its environment or
    command line; the stations have instance ids of their own; the central network is internal."""
    services = c.get("services", {}) or {}
    pg = services.get("postgres", {})
    creds = mount_at(pg, "/var/lib/fleet-credentials")
    r.check(creds is not None and creds["type"] == "volume" and not creds["read_only"],
            "compose: postgres writes the fleet's credentials to a named volume", f"{creds}")
    ids = []
    for n in FLEET_STATIONS:
        station, ship = services.get(f"station-{n}", {}), services.get(f"ship-{n}", {})
        d1, d2 = mount_at(station, "/var/lib/desfired"), mount_at(ship, "/var/lib/desfired")
        r.check(d1 is not None and d2 is not None and d1["type"] == "volume" and
                d1["source"] == d2["source"],
                f"compose: ship-{n} reads station-{n}'s ledger volume", f"{d1} / {d2}")
        sc = mount_at(ship, "/var/lib/fleet-credentials")
        r.check(sc is not None and creds is not None and sc["source"] == creds["source"] and
                sc["read_only"], f"compose: ship-{n} mounts the fleet's credentials read-only", f"{sc}")
        env = ship.get("environment") or {}
        text = " ".join(f"{k}={v}" for k, v in (env.items() if isinstance(env, dict) else
                                                  (e.partition("=")[::2] for e in env)))
        text += " " + " ".join(command_of(ship))
        r.check(command_of(ship)[:1] == ["fleet-ship"] and
                not re.search(r"password|postgres(ql)?://|--central", text, re.I),
                f"compose: ship-{n} takes no connection string or password from its environment "
                f"or command line", text)
        senv = station.get("environment") or {}
        ids.append((senv if isinstance(senv, dict) else {}).get("DESFIRED_INSTANCE"))
        r.check(((env if isinstance(env, dict) else {}).get("FLEET_INSTANCE") == ids[-1]),
                f"compose: ship-{n} ships under station-{n}'s instance id", f"{env}")
    r.check(len(set(ids)) == len(ids) and None not in ids,
            "compose: every station has an instance id of its own", f"{ids}")
    networks = c.get("networks") or {}
    for name in ("postgres", "nats"):
        nets = services.get(name, {}).get("networks") or []
        r.check(nets and all((networks.get(x) or {}).get("internal") is True for x in nets) and
                not services.get(name, {}).get("ports"),
                f"compose: {name} is on internal networks only, publishes no port", f"{nets}")


def check_docs(r: Results, source_dir: str):
    path = os.path.join(source_dir, "docs", "deployment.md")
    if not r.check(os.path.isfile(path), "docs/deployment.md exists"):
        return
    text = open(path).read()
    for needle in ("--profile usb", "--profile demo", "pn533_usb", CGROUP_RULE,
                   "--allow-insecure-remote", "pcscd.comm", "10001", "chmod 600", "backup",
                   "Upgrad", "scripts/docker-runtime-check", "public demo keys", "TLS", "token",
                   "scripts/docker-check", "docker-compose", "DOCKER_BUILDKIT=1",
                   "COMPOSE_DOCKER_CLI_BUILD=1", "down -v", "desfired-demo-data", "--target debug",
                   "desfired-demo-token", "SoftHSM2", "compose override", "--profile fleet",
                   "fleet-credentials", "ledger verify --postgres"):
        r.check(needle.lower() in text.lower(), f"docs/deployment.md covers `{needle}`")
    readme = open(os.path.join(source_dir, "README.md")).read()
    r.check("docs/deployment.md" in readme, "README.md links docs/deployment.md")


# ---------------------------------------------------------------------------------------------
# Debian packages and shared libraries (this machine's apt and dpkg)


def debian12() -> bool:
    try:
        with open("/etc/os-release") as f:
            return 'VERSION_ID="12"' in f.read() and shutil.which("apt-cache") is not None
    except OSError:
        return False


APT_CLOSURE = ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
               "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", "apt"]


def base_image_packages(out: str) -> Set[str]:
    """apt and everything it depends on (APT_CLOSURE's output): present in every Debian image
    that can apt-get, so a library they ship needs no apt-get install."""
    return {ln.strip() for ln in out.splitlines() if ln and not ln[0].isspace() and "<" not in ln}


def packages_of(paths: List[str]) -> Dict[str, Optional[str]]:
    """path -> the Debian package that ships it (one dpkg -S for all; tries the /lib <-> /usr/lib
    spelling too, since Debian 12's dpkg database is not fully merged)."""
    variants = {}
    for path in paths:
        vs = [path, os.path.realpath(path)]
        for v in list(vs):
            vs.append(v[4:] if v.startswith("/usr/lib/") else "/usr" + v if v.startswith("/lib/") else v)
        variants[path] = list(dict.fromkeys(vs))
    query = sorted({v for vs in variants.values() for v in vs})
    out = subprocess.run(["dpkg", "-S"] + query, capture_output=True, text=True).stdout
    owner = {}
    for line in out.splitlines():
        pkgs, _, path = line.partition(": ")
        if "," not in pkgs and path:
            owner[path.strip()] = pkgs.split(":")[0].strip()
    return {p: next((owner[v] for v in vs if v in owner), None) for p, vs in variants.items()}


def linked_libraries(binary: str) -> Tuple[List[str], Dict[str, str]]:
    """(NEEDED entries, library -> path as ldd resolves it)."""
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                        subprocess.run(["readelf", "-d", binary], capture_output=True, text=True).stdout)
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    return needed, dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))


def check_host(r: Results, df: dfp.Dockerfile, build_dir: Optional[str]):
    if not debian12():
        r.skip("Debian 12 packages and libraries", "this machine is not Debian 12 with apt")
        return
    runtime, demo = df.stage("runtime"), df.stage("demo")
    wanted = sorted(set(stage_packages(df, runtime)) | set(stage_packages(df, demo)))
    # apt-cache takes ~1 s a call where apt keeps no package cache (as in Docker images): the
    # two calls run side by side.
    closure = subprocess.Popen(APT_CLOSURE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = subprocess.run(["apt-cache", "policy"] + wanted, capture_output=True, text=True).stdout
    candidate = dict(re.findall(r"^(\S+):\n(?:\s+Installed:.*\n)?\s+Candidate:\s*(\S+)", out, re.M))
    for p in wanted:
        r.check(candidate.get(p, "(none)") != "(none)", f"Debian 12 has package {p}",
                "apt-cache policy knows no candidate")
    closure_out = closure.communicate()[0]
    if not build_dir:
        r.skip("runtime libraries cover the binaries", "no --build-dir (or DESFIRED_BUILD_DIR)")
        return
    base = base_image_packages(closure_out)
    binaries = {}
    for stage in (runtime, demo):
        for path, (origin, src) in sorted(installed_files(df, stage).items()):
            if origin == "build":
                binaries.setdefault(src, os.path.join(build_dir, os.path.relpath(src, "/src/build")))
    links = {src: linked_libraries(b) for src, b in binaries.items() if os.path.isfile(b)}
    owner = packages_of(sorted({p for _, where in links.values() for p in where.values()
                                if p.startswith("/")}))
    for stage in (runtime, demo):
        have = set(stage_packages(df, stage)) | base
        for path, (origin, src) in sorted(installed_files(df, stage).items()):
            if origin != "build":
                continue
            what = f"{stage.name}: the libraries of {os.path.basename(src)}"
            if src not in links:
                r.skip(what, f"{binaries[src]} is not built (build the target first)")
                continue
            needed, where = links[src]
            missing = [lib for lib in needed if not where.get(lib, "").startswith("/")]
            owners = {lib: owner.get(where[lib]) for lib in needed if lib not in missing}
            uncovered = [f"{lib} ({o})" for lib, o in owners.items() if o is None or o not in have]
            r.check(not missing and not uncovered,
                    what + f" come from {sorted(set(map(str, owners.values())))}",
                    f"not found: {missing}; not installed by the stage: {uncovered}")


# ---------------------------------------------------------------------------------------------
# Self-test: mutations that the checks must catch

def added(anchor: str, text: str) -> Tuple[str, str]:
    """A mutation that adds TEXT after ANCHOR: (old, new)."""
    return anchor, anchor + text


def removed(text: str) -> Tuple[str, str]:
    """A mutation that deletes TEXT: (old, new)."""
    return text, ""


DOCKERFILE_MUTATIONS = [  # (what, text, replacement)
    ("unpinned runtime base", "FROM debian:bookworm-20250520-slim", "FROM debian:bookworm-slim"),
    ("latest build base", "FROM debian:bookworm-20250520 AS", "FROM debian:latest AS"),
    ("bases of different dates", "bookworm-20250520-slim", "bookworm-20250101-slim"),
    ("runtime as root", "USER desfired\nWORKDIR", "WORKDIR"),
    ("demo ends as root", "fleet/fleet-ship /usr/local/bin/\nUSER desfired\n",
     "fleet/fleet-ship /usr/local/bin/\nUSER root\n"),
    ("health check without the probe", '"desfired-health-probe", "--addr"', '"curl", "--addr"'),
    ("no scripts/setup", "RUN scripts/setup\n", ""),
    ("packages outside scripts/setup", "RUN scripts/setup\n",
     "RUN scripts/setup\nRUN apt-get install -y cmake\n"),
    ("another configure flag", "bash -c 'source scripts/lib.sh && configure_and_build",
     "bash -c 'source scripts/lib.sh && CMAKE_ARGS=-DDESFIRED_BENCH=OFF configure_and_build"),
    ("a hand-written build", "bash -c 'source scripts/lib.sh && configure_and_build",
     "bash -c 'cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build"),
    ("a token in ENV", "ARG DESFIRED_UID=10001", "ARG DESFIRED_UID=10001\nENV DESFIRED_TOKEN=abc"),
    ("a key file copied", "COPY docker/pcscd-foreground",
     "COPY docker/demo/keys.conf /etc/desfired/keys.conf\nCOPY docker/pcscd-foreground"),
    ("the whole context in runtime", "COPY docker/pcscd-foreground",
     "COPY . /opt/src\nCOPY docker/pcscd-foreground"),
    ("a binary from the wrong place", "/src/build/client/desfirectl", "/src/build/server/desfirectl"),
    ("a binary that is not built", "/src/build/sim/desfire-sim", "/src/build/sim/desfire-sim-x"),
    ("insecure listen without the flag", '"--listen=0.0.0.0:50051", "--allow-insecure-remote"]',
     '"--listen=0.0.0.0:50051"]'),
    ("no pcscd", "pcscd libccid", "libccid"),
    ("default target is the demo", "\nFROM runtime\n", "\n"),
    ("an image VOLUME", "USER desfired\nWORKDIR", "VOLUME [\"/var/lib/desfired\"]\nUSER desfired\nWORKDIR"),
    ("unstripped binaries", "RUN docker/split-debug", "RUN true || docker/split-debug"),
    ("prebuilt binaries by default", "ARG DESFIRED_BINARIES=source", "ARG DESFIRED_BINARIES=prebuilt"),
    ("the host's whole build tree", "COPY build/docker-prebuilt/ /src/build/", "COPY build/ /src/build/"),
    ("one binary unstripped", "build/server/desfired build/server/desfired-health-probe",
     "build/server/desfired-health-probe"),
    ("no SoftHSM2 in the demo", "      softhsm2 \\\n", ""),
]
IGNORE_MUTATIONS = [
    ("key files not ignored", "**/*keys.conf", "**/nothing-here"),
    ("build trees sent", "build*", "nothing-here"),
    ("the whole build tree re-included", "!build/docker-prebuilt", "!build"),
]
COMPOSE_MUTATIONS = [
    ("wrong cgroup rule", '"c 189:* rmw"', '"c 188:* rmw"'),
    ("privileged pcscd", "    profiles: [usb]\n    # A re-plugged",
     "    profiles: [usb]\n    privileged: true\n    # A re-plugged"),
    ("config writable", "        target: /etc/desfired\n        read_only: true",
     "        target: /etc/desfired\n        read_only: false"),
    ("published on every address", "127.0.0.1:50051}:50051", "0.0.0.0:50051}:50051"),
    ("card on the wrong vpcd port", '"pcscd-demo:35963"', '"pcscd-demo:35965"'),
    ("desfired outside the profiles", "    profiles: [usb]\n    command: [desfired",
     "    command: [desfired"),
    ("health check without the probe", "test: [CMD, desfired-health-probe", "test: [CMD, curl"),
    ("no data volume",
     "      - {type: volume, source: desfired-data, target: /var/lib/desfired}\n", ""),
    ("no USB devices", "      - {type: bind, source: /dev/bus/usb, target: /dev/bus/usb}\n", ""),
    ("desfired as root", "    profiles: [usb]\n    command: [desfired",
     "    profiles: [usb]\n    user: root\n    command: [desfired"),
    # docker-compose 1.29 (Debian 12), the demo topology and ledger, the first probe
    ("top-level name (docker-compose 1.29)", "x-runtime-image:", "name: x\nx-runtime-image:"),
    ("create_host_path (docker-compose 1.29)",
     *added("./demo/keys.conf\n", "        bind: {create_host_path: false}\n")),
    ("card in pcscd-demo's namespace", "networks: [demo-card]\n    init",
     "network_mode: service:pcscd-demo\n    init"),
    ("card network not internal", "demo-card: {internal: true}", "demo-card: {}"),
    ("demo ledger on an anonymous volume",
     *removed("      - {type: volume, source: desfired-demo-data, target: /var/lib/desfired}\n")),
    ("first health probe after 15 s", "    interval: 5s", "    interval: 15s"),
    ("prebuilt binaries by default", "${DESFIRED_BINARIES:-source}", "${DESFIRED_BINARIES:-prebuilt}"),
    ("demo token in the container's layer",
     *removed("      - {type: volume, source: desfired-demo-token, target: /var/lib/desfired-token}\n")),
    ("demo token on the ledger volume", "source: desfired-demo-token, target",
     "source: desfired-demo-data, target"),
    ("token PIN in the environment", "    command: [desfired-demo,",
     "    environment: {DESFIRED_TOKEN_PIN: '1234'}\n    command: [desfired-demo,"),
    # the fleet
    ("a shipper on another station's ledger",
     "source: station-1-data, target: /var/lib/desfired}\n      - {type: volume, source: fleet-cred",
     "source: station-2-data, target: /var/lib/desfired}\n      - {type: volume, source: fleet-cred"),
    ("the shipping password in the environment", "      FLEET_INSTANCE: station-1\n",
     "      FLEET_INSTANCE: station-1\n      FLEET_DB_PASSWORD: x\n"),
    ("the credentials writable in a shipper", "fleet-credentials,\n         read_only: true}",
     "fleet-credentials,\n         read_only: false}"),
    ("PostgreSQL published", "    networks: [fleet-central]\n    tmpfs:",
     "    networks: [fleet-central]\n    ports: [\"127.0.0.1:5432:5432\"]\n    tmpfs:"),
    ("two stations with one instance id", "      DESFIRED_INSTANCE: station-2\n",
     "      DESFIRED_INSTANCE: station-1\n"),
    ("the central network not internal", "fleet-central: {internal: true}", "fleet-central: {}"),
    ("a fleet service outside the profiles", "    profiles: [fleet]\n    command: [fleet-postgres]",
     "    command: [fleet-postgres]"),
]


def load_yaml(text: str):
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def static_failures(df_text, ignore_text, compose_text, ctx) -> List[str]:
    r = Results(quiet=True)
    df = dfp.parse(df_text)
    check_dockerfile(r, df, ignore_text, ctx)
    stages_ok = all(df.has_stage(n) for n in ("runtime", "demo"))
    if compose_text is not None and yaml is not None and stages_ok:
        check_compose(r, load_yaml(compose_text), os.path.join(ctx.source_dir, "docker"), df, ctx)
    return r.failures


def self_test(r: Results, df_text, ignore_text, compose_text, ctx):
    if static_failures(df_text, ignore_text, compose_text, ctx):
        r.check(False, "self-test", "not run: the unmutated files fail the checks already")
        return
    for kind, mutations in (("Dockerfile", DOCKERFILE_MUTATIONS),
                            ("Dockerfile.dockerignore", IGNORE_MUTATIONS),
                            ("compose.yaml", COMPOSE_MUTATIONS)):
        if kind == "compose.yaml" and yaml is None:
            r.skip(f"self-test: {kind} mutations", "python3-yaml is missing")
            continue
        for what, old, new in mutations:
            texts = {"Dockerfile": df_text, "Dockerfile.dockerignore": ignore_text,
                     "compose.yaml": compose_text}
            if old not in (texts[kind] or ""):
                r.check(False, f"self-test: {kind}: {what}", f"the text to mutate is gone: {old!r}")
                continue
            texts[kind] = texts[kind].replace(old, new, 1)
            failures = static_failures(texts["Dockerfile"], texts["Dockerfile.dockerignore"],
                                       texts["compose.yaml"], ctx)
            r.check(bool(failures), f"self-test: {kind}: {what} is caught",
                    "the checks passed on the mutated file")


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source-dir", default=os.path.normpath(os.path.join(here, "..", "..")))
    ap.add_argument("--build-dir", default=os.environ.get("DESFIRED_BUILD_DIR"))
    ap.add_argument("--no-self-test", action="store_true")
    a = ap.parse_args()
    src = os.path.abspath(a.source_dir)
    df_text = open(os.path.join(src, "docker", "Dockerfile")).read()
    ignore_path = os.path.join(src, "docker", "Dockerfile.dockerignore")
    ignore_text = open(ignore_path).read() if os.path.exists(ignore_path) else None
    compose_path = os.path.join(src, "docker", "compose.yaml")
    compose_text = open(compose_path).read() if os.path.exists(compose_path) else None

    r = Results()
    ctx = Context(src, a.build_dir)
    try:
        df = dfp.parse(df_text)
        check_dockerfile(r, df, ignore_text, ctx)
        if not r.check(compose_text is not None, "docker/compose.yaml exists"):
            pass
        elif yaml is None:
            r.skip("docker/compose.yaml", "python3-yaml is missing (apt-get install python3-yaml)")
        elif all(df.has_stage(n) for n in ("runtime", "demo")):
            check_compose(r, load_yaml(compose_text), os.path.dirname(compose_path), df, ctx)
        check_docs(r, src)
        if all(df.has_stage(n) for n in ("runtime", "demo")):
            check_host(r, df, a.build_dir)
        if not a.no_self_test:
            self_test(r, df_text, ignore_text, compose_text, ctx)
    finally:
        ctx.close()
    print(f"\n{r.passes} passed, {len(r.failures)} failed, {len(r.skips)} skipped")
    for f in r.failures:
        print(f"  FAILED: {f}")
    if r.failures:
        return 1
    return 77 if yaml is None else 0


if __name__ == "__main__":
    sys.exit(main())
