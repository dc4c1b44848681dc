#!/usr/bin/env python3
"""Runs the workspace's test binaries side by side, as `cargo test --workspace` would run them
one after the other: the same binaries, each in its package's directory with cargo's run-time
environment, each binary's own test threads.

Why: most of `make test` is waiting (moto, database servers, sessions held across a deadline),
not computing, so on a small machine three binaries at once take about the time of the longest.

Each binary's output is printed whole, in one block, when it ends (longest-running first to
start); the exit status is non-zero if any binary failed or could not be started, and the last
line names them. Doc tests run after, through cargo. Arguments after `--` go to every binary.

Usage: parallel_tests.py [--jobs N] [-- test-binary-args...]
"""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

# Binaries known to run longest start first, so the others fill in around them. A name not
# listed starts after these, in cargo's order.
LONGEST_FIRST = ["masked_refresh", "platform", "masking", "aurora_replicas", "cli"]


def test_binaries():
    """(name, executable, package directory, package name) of every test binary cargo builds."""
    cmd = ["cargo", "test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, check=True, text=True).stdout
    found = []
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg["profile"]["test"]:
            continue
        target = msg["target"]
        package_dir = os.path.dirname(msg["manifest_path"])
        package = msg["package_id"]
        name = target["name"] if target["kind"] != ["lib"] else f"{target['name']} (unit)"
        found.append((name, msg["executable"], package_dir, package, target["name"]))
    return found


def rank(binary):
    name = binary[4]
    return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)


def package_name(package_id, package_dir):
    # `path+file:///dir#name@version` (cargo 1.77+) or `name version (path+file:///dir)`.
    if "#" in package_id:
        tail = package_id.rsplit("#", 1)[1]
        return tail.split("@", 1)[0] if "@" in tail else os.path.basename(package_dir)
    return package_id.split(" ", 1)[0]


def run_one(binary, args):
    name, exe, package_dir, package_id, _ = binary
    env = dict(os.environ)
    env["CARGO_MANIFEST_DIR"] = package_dir
    env["CARGO_PKG_NAME"] = package_name(package_id, package_dir)
    started = time.monotonic()
    done = subprocess.run(
        [exe, *args], cwd=package_dir, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
    )
    return name, exe, done.returncode, done.stdout, time.monotonic() - started


def main():
    argv = sys.argv[1:]
    args = []
    if "--" in argv:
        i = argv.index("--")
        argv, args = argv[:i], argv[i + 1:]
    jobs = 3
    if argv[:1] == ["--jobs"] and len(argv) > 1:
        jobs = int(argv[1])
    binaries = sorted(test_binaries(), key=rank)
    failed = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for name, exe, code, output, seconds in pool.map(lambda b: run_one(b, args), binaries):
            print(f"     Running {name} ({exe}) — {seconds:.0f} s", flush=True)
            print(output, flush=True)
            if code != 0:
                failed.append(f"{name} (exit {code})")
    # Doc tests through cargo, with the same build as above (`--doc` alone resolves features
    # differently and would build the dependencies again): every binary runs again filtered to
    # names containing " - ", which only doc tests have ("path - item (line N)").
    doc = subprocess.run(["cargo", "test", "--workspace", "--", " - "])
    if doc.returncode != 0:
        failed.append("doc tests")
    if failed:
        print("failed: " + ", ".join(failed), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
