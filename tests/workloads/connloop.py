#!/usr/bin/env python3
"""connloop.py --port P --seconds S [--out PATH] [--host H] [--timeout T] [--pause-ms M]

A client that connects to H:P (default 127.0.0.1) in a loop for S seconds,
reads the one line the server answers, and counts each attempt as ok (a
whole line), refused (ECONNREFUSED: nothing listened) or errors (anything
else: reset, timeout, an empty or partial answer). It retries at once.
At the end it writes {"ok": N, "refused": N, "errors": N, "kinds": {...}}
as JSON to PATH (by rename, so it appears whole) or to stdout. "kinds"
counts the errors by kind, for the test's failure message.
"""

import argparse
import json
import os
import socket
import sys
import time


def attempt(host, port, timeout):
    """One connection: "ok", "refused", or the name of the error."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(256)
                if not chunk:
                    return "partial" if data else "empty"
                data += chunk
            return "ok"
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return type(e).__name__


def main():
    ap = argparse.ArgumentParser(description="Counts connections that work.")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--out")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--pause-ms", type=float, default=0.0,
                    help="sleep between attempts, to bound the request rate")
    a = ap.parse_args()

    counts = {"ok": 0, "refused": 0, "errors": 0, "kinds": {}}
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        r = attempt(a.host, a.port, a.timeout)
        if a.pause_ms > 0:
            time.sleep(a.pause_ms / 1000.0)
        if r in ("ok", "refused"):
            counts[r] += 1
        else:
            counts["errors"] += 1
            counts["kinds"][r] = counts["kinds"].get(r, 0) + 1

    text = json.dumps(counts) + "\n"
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, a.out)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
