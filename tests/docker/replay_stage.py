#!/usr/bin/python3
"""Replays one stage of docker/Dockerfile in a Debian root directory, as `docker build` would
run it, for scripts/docker-runtime-check (needs root: chroot).

    replay_stage.py --root DIR --state FILE --stage runtime [--build-dir DIR] [--source-dir DIR]
    replay_stage.py --state FILE --print-shell          # the image config, as shell variables
    replay_stage.py --compose-command SERVICE           # a compose service's command, quoted

What each instruction does here:
  FROM        the root must already hold the stage's base: a Debian 12 root for an image
              (scripts/docker-runtime-check makes one), or an earlier replayed stage
  ARG, ENV    variables for the following RUNs (ARG defaults unless --build-arg NAME=VALUE)
  RUN         /bin/sh -c in the chroot, in the WORKDIR, as the current USER, with Docker's
              default PATH and the variables (and this machine's proxy variables, which
              docker build also passes on); RUN --mount flags (build caches) are ignored
  COPY        --from=build: the file of the local build (BUILD_DIR), for the path under the
              build stage's build directory (/src/build); otherwise from the source tree;
              root-owned, the mode kept, as COPY does
  USER, WORKDIR, VOLUME, EXPOSE, HEALTHCHECK, CMD   recorded in the state file
The state file (JSON) carries the image config from one stage to the next.
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dockerfile as dfp  # noqa: E402

DOCKER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUILD_STAGE_DIR = "/src/build"  # lib.sh's BUILD_DIR under the build stage's WORKDIR /src


def chroot_ids(root: str, user: str):
    """uid, gid of USER inside the root (names resolved from its /etc/passwd and /etc/group)."""
    name, _, group = user.partition(":")
    uid = gid = None
    with open(os.path.join(root, "etc/passwd")) as f:
        for line in f:
            p = line.split(":")
            if p[0] == name or p[2] == name:
                uid, gid = int(p[2]), int(p[3])
    if uid is None and name.isdigit():
        uid, gid = int(name), int(name)
    if uid is None:
        raise SystemExit(f"replay: USER {user}: no such user in {root}/etc/passwd")
    if group:
        with open(os.path.join(root, "etc/group")) as f:
            for line in f:
                p = line.split(":")
                if group in (p[0], p[2]):
                    gid = int(p[2])
    return uid, gid


def run(root: str, state: dict, ins: dfp.Instruction):
    uid, gid = chroot_ids(root, state["user"])
    env = {"PATH": DOCKER_PATH, "HOME": "/root" if uid == 0 else "/"}
    for k in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        if k in os.environ:
            env[k] = os.environ[k]
    env.update(state["env"])
    command = ins.exec_form or ["/bin/sh", "-c", ins.args]
    argv = ["chroot", f"--userspec={uid}:{gid}", "--groups=" + str(gid), root,
            "/usr/bin/env", "-i"] + [f"{k}={v}" for k, v in env.items()] + \
           ["/bin/sh", "-c", 'cd "$0" && exec "$@"', state["workdir"]] + command
    print(f"replay: RUN {ins.args if ins.exec_form is None else ins.exec_form}", flush=True)
    p = subprocess.run(argv)
    if p.returncode != 0:
        raise SystemExit(f"replay: line {ins.line}: RUN exited {p.returncode}")


def copy(root: str, ins: dfp.Instruction, build_dir: str, source_dir: str):
    sources, dest = dfp.copy_sources_and_dest(ins)
    origin = ins.flags.get("from")
    to_dir = dest.endswith("/") or len(sources) > 1
    for src in sources:
        if origin == "build":
            rel = os.path.relpath(src, BUILD_STAGE_DIR)
            if rel.startswith(".."):
                raise SystemExit(f"replay: line {ins.line}: {src} is not under {BUILD_STAGE_DIR}")
            host = os.path.join(build_dir, rel)
        elif origin is None:
            host = os.path.join(source_dir, src)
        else:
            raise SystemExit(f"replay: line {ins.line}: COPY --from={origin} is not supported")
        if not os.path.isfile(host):
            raise SystemExit(f"replay: line {ins.line}: {host} does not exist (build it first)")
        target = os.path.join(root, dest.lstrip("/"))
        if to_dir:
            os.makedirs(target, exist_ok=True)
            target = os.path.join(target, os.path.basename(src))
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(host, target)
        os.chown(target, 0, 0)
        print(f"replay: COPY {host} -> {dest}", flush=True)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--root")
    ap.add_argument("--state")
    ap.add_argument("--stage")
    ap.add_argument("--dockerfile", default=os.path.join(here, "..", "..", "docker", "Dockerfile"))
    ap.add_argument("--source-dir", default=os.path.join(here, "..", ".."))
    ap.add_argument("--build-dir")
    ap.add_argument("--build-arg", action="append", default=[])
    ap.add_argument("--print-shell", action="store_true")
    ap.add_argument("--compose-command")
    a = ap.parse_args()

    if a.compose_command:
        import yaml
        with open(os.path.join(os.path.dirname(a.dockerfile), "compose.yaml")) as f:
            svc = yaml.safe_load(f)["services"][a.compose_command]
        print(shlex.join(str(w) for w in svc["command"]))
        return

    state = {"user": "root", "workdir": "/", "env": {}, "healthcheck": None, "cmd": None,
             "volumes": [], "expose": []}
    if a.state and os.path.exists(a.state):
        with open(a.state) as f:
            state = json.load(f)
    if a.print_shell:
        print(f"IMAGE_USER={shlex.quote(state['user'])}")
        print(f"IMAGE_WORKDIR={shlex.quote(state['workdir'])}")
        print("IMAGE_HEALTHCHECK=(" + shlex.join(state["healthcheck"] or []) + ")")
        print("IMAGE_CMD=(" + shlex.join(state["cmd"] or []) + ")")
        print("IMAGE_VOLUMES=(" + shlex.join(state["volumes"]) + ")")
        return

    with open(a.dockerfile) as f:
        df = dfp.parse(f.read())
    stage = df.stage(a.stage)
    build_args = dict(x.split("=", 1) for x in a.build_arg)
    if not df.is_stage_name(stage.base):
        with open(os.path.join(a.root, "etc/debian_version")) as f:
            version = f.read().strip()
        if not version.startswith("12."):
            raise SystemExit(f"replay: {a.root} is Debian {version}, not 12 ({stage.base})")
        print(f"replay: FROM {stage.base} = the Debian {version} root {a.root}", flush=True)
    for ins in stage.instructions:
        k = ins.keyword
        if k in ("ARG", "ENV"):
            for w in shlex.split(ins.args):
                name, eq, value = w.partition("=")
                if k == "ARG":
                    value = build_args.get(name, value)
                if eq or name in build_args:
                    state["env"][name] = value
        elif k == "RUN":
            run(a.root, state, ins)
        elif k in ("COPY", "ADD"):
            copy(a.root, ins, a.build_dir, a.source_dir)
        elif k == "USER":
            state["user"] = ins.args.strip()
        elif k == "WORKDIR":
            state["workdir"] = os.path.join(state["workdir"], ins.args.strip())
            os.makedirs(os.path.join(a.root, state["workdir"].lstrip("/")), exist_ok=True)
        elif k == "VOLUME":
            state["volumes"] += ins.words()
        elif k == "EXPOSE":
            state["expose"] += ins.args.split()
        elif k == "HEALTHCHECK":
            state["healthcheck"] = dfp.healthcheck_command(ins)
        elif k == "CMD":
            state["cmd"] = ins.words()
        else:
            print(f"replay: {k} ignored", flush=True)
    # The stage is an image now: its ARGs do not reach the next stage, its ENVs do.
    arg_names = {w.partition("=")[0] for i in stage.all("ARG") for w in shlex.split(i.args)}
    env_names = {w.partition("=")[0] for i in stage.all("ENV") for w in shlex.split(i.args)}
    for name in arg_names - env_names:
        state["env"].pop(name, None)
    with open(a.state, "w") as f:
        json.dump(state, f, indent=1)


if __name__ == "__main__":
    main()
