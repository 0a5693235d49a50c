# SPDX-License-Identifier: Apache-2.0
"""Helpers for the script tests that drive `macula` processes: JSON event
lines read in the background, waiting for a line with a deadline, keys,
and check bookkeeping. Only the standard library."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time


class Checks:
    def __init__(self):
        self.failures = 0
        self.count = 0

    def check(self, cond, what):
        self.count += 1
        if not cond:
            self.failures += 1
            print("FAIL:", what, file=sys.stderr)
        return cond

    def done(self):
        print("%d checks, %d failures" % (self.count, self.failures), file=sys.stderr)
        sys.exit(1 if self.failures else 0)


class Proc:
    """A running macula process whose stdout JSON lines are collected."""

    def __init__(self, args, stdin=None, name="proc"):
        self.name = name
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(args, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=self.err)
        self.events = []
        self.raw = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            text = line.decode("utf-8", "replace").rstrip("\n")
            try:
                ev = json.loads(text)
            except ValueError:
                ev = {"event": "not_json", "text": text}
            with self.cv:
                self.raw.append(text)
                self.events.append(ev)
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_for(self, pred, timeout=15.0, what="an event"):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for ev in self.events:
                    if pred(ev):
                        return ev
                left = end - time.monotonic()
                if left <= 0:
                    print("%s: timed out waiting for %s; got:\n  %s" % (self.name, what, "\n  ".join(self.raw[-20:])),
                          file=sys.stderr)
                    return None
                self.cv.wait(min(left, 0.2))

    def matching(self, pred):
        with self.cv:
            return [ev for ev in self.events if pred(ev)]

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def wait(self, timeout=15.0):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            print("%s: still running after %.0f s; killing it" % (self.name, timeout), file=sys.stderr)
            self.p.kill()
            rc = self.p.wait()
        self.t.join(5)
        return rc

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode("utf-8", "replace")

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def ev_is(kind, **fields):
    """A predicate: event `kind` whose fields equal the given values."""
    def pred(ev):
        return ev.get("event") == kind and all(ev.get(k) == v for k, v in fields.items())
    return pred


def make_key(macula, path):
    subprocess.run([macula, "key", "gen", "-o", path], check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run([macula, "key", "show", path], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("node_id "):
            return line.split()[1]
    raise RuntimeError("no node id for " + path)


def make_keys(macula, directory, names):
    """One new key file per name, NAME.key in `directory`: ({name: path}, {name: node_id})."""
    paths = {n: os.path.join(directory, n + ".key") for n in names}
    return paths, {n: make_key(macula, k) for n, k in paths.items()}


def start_listen(macula, key, *extra, name="listen"):
    """Starts `macula listen` on 127.0.0.1:0; returns (proc, port, node_id)."""
    p = Proc([macula, "listen", "--listen", "127.0.0.1:0", "--key", key, *extra], name=name)
    ev = p.wait_for(ev_is("listening"), 10, "the listening line")
    if not ev:
        p.kill()
        raise RuntimeError("listen did not start: " + p.stderr())
    return p, ev["port"], ev["node_id"]


def run(args, timeout=30, stdin=None):
    """Runs a command to completion: (rc, json events, stdout lines, stderr).
    `stdin`: bytes or text (UTF-8) fed to it; None = no input."""
    if isinstance(stdin, str):
        stdin = stdin.encode()
    r = subprocess.run(args, capture_output=True, timeout=timeout, input=stdin)
    lines = r.stdout.decode("utf-8", "replace").splitlines()
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"event": "not_json", "text": line})
    return r.returncode, events, lines, r.stderr.decode("utf-8", "replace")


def top_level_entries(diag):
    """Splits a map's diag '{k: v, k: v}' (CBOR diagnostic notation) into its top-level 'k: v' texts."""
    assert diag[0] == '{' and diag[-1] == '}'
    body, out, depth, start, i, in_str = diag[1:-1], [], 0, 0, 0, False
    while i < len(body):
        ch = body[i]
        if in_str:
            if ch == '\\': i += 1
            elif ch == '"': in_str = False
        elif ch == '"': in_str = True
        elif ch in '[{': depth += 1
        elif ch in ']}': depth -= 1
        elif ch == ',' and depth == 0:
            out.append(body[start:i]); start = i + 2
        i += 1
    out.append(body[start:])
    return out

def vectors(path):
    with open(path) as f:
        doc = json.load(f)
    return doc, {v["name"]: v for v in doc["vectors"]}, {i["name"]: i for i in doc["identities"]}


def workdir():
    return tempfile.mkdtemp(prefix="macula-test-")


def terminate(*procs):
    for p in procs:
        if p is not None:
            p.kill()


__all__ = ["Checks", "Proc", "ev_is", "make_key", "make_keys", "start_listen", "run", "vectors", "workdir", "terminate", "subprocess",
           "signal", "os", "time"]
