#!/usr/bin/env python3
"""The Python client as a package: builds a wheel from <build>/python with Debian's
setuptools (offline: --no-build-isolation), installs it into a fresh virtual environment
(with the system's grpcio and protobuf) and imports it there, from outside the build tree.

  check_python_wheel.py BUILD_PYTHON_DIR     exit 0: the wheel builds, installs and imports
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

PYTHON = "/usr/bin/python3"


def run(args, cwd=None):
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(args), done.stdout, done.stderr))
    return done.stdout


def main():
    source = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        # A copy, so that setuptools' build/ and *.egg-info stay out of the build tree.
        staged = os.path.join(tmp, "src")
        shutil.copytree(source, staged, ignore=shutil.ignore_patterns("__pycache__"))
        wheels = os.path.join(tmp, "wheels")
        run([PYTHON, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
             "-w", wheels, staged])
        built = glob.glob(os.path.join(wheels, "desfired_client-*.whl"))
        if len(built) != 1:
            sys.exit("expected one desfired_client wheel, got %s" % os.listdir(wheels))
        venv = os.path.join(tmp, "venv")
        run([PYTHON, "-m", "venv", "--system-site-packages", venv])
        python = os.path.join(venv, "bin", "python")
        run([python, "-m", "pip", "install", "--no-deps", "--no-index", built[0]])
        env_check = (
            "import desfired_client, desfired.v1.card_pb2_grpc, google.rpc.status_pb2, "
            "google.protobuf, sys\n"
            "assert desfired_client.__file__.startswith(sys.prefix), desfired_client.__file__\n"
            "assert google.rpc.status_pb2.__file__.startswith(sys.prefix)\n"
            "assert callable(desfired_client.connect) and desfired_client.Watch\n"
            "print(desfired_client.__file__)\n")
        out = run([python, "-c", env_check], cwd=tmp)
        print("imported", out.strip())


if __name__ == "__main__":
    main()
