#!/usr/bin/env python3
"""fragsvc.py [--procs N] [--threads T] [--seconds S] [--seed N]

A Python service with the incident's pattern (stdlib only): a parent that
forks N worker processes (4), each running T threads (2) that build
buffers of 32 KB to 1.3 MB by growing a bytearray in 3.2 KB steps, copy
each into a bounded queue of 20 (bytes, the oldest dropped), and 1 step in
100 also keep a long-lived block of 64 B to 4 KB in a ring of 400. Python
serializes its threads (the GIL), so the processes are what make the
effect real: every worker's glibc arenas end up holding far more than it
has live.

After S seconds (3) of churn each worker stops its threads, keeps what
they built, and prints one line with its pid and its live bytes, the sum
of the lengths of what it holds (Python's own object headers not
included):
    LIVE <pid> <bytes>
then sleeps (time.sleep) until SIGTERM. The parent prints "PARENT <pid>"
first, waits in signal.pause(), and on SIGTERM stops its workers, waits for
them and exits 0. Lines are written with one write(2) each, so processes
never split them. Everything exits by itself after 10 minutes.
"""

import argparse
import collections
import os
import random
import signal
import sys
import threading
import time

STEP = 3200
MIN_BUF, MAX_BUF = 32 * 1024, 1300 * 1024
MIN_SMALL, MAX_SMALL = 64, 4096
QUEUE, RING = 20, 400
LIFETIME = 600


def say(line):
    os.write(1, (line + "\n").encode())


class Churner(threading.Thread):
    def __init__(self, seed, stop):
        super().__init__(daemon=True)
        self.rng = random.Random(seed)
        self.stop = stop
        self.queue = collections.deque(maxlen=QUEUE)
        self.ring = [b""] * RING
        self.rhead = 0
        self.chunk = bytes(range(256)) * (STEP // 256) + bytes(STEP % 256)

    def long_lived(self):
        self.ring[self.rhead] = bytes([self.rhead % 251]) * self.rng.randint(MIN_SMALL, MAX_SMALL)
        self.rhead = (self.rhead + 1) % RING

    def build(self):
        target = self.rng.randint(MIN_BUF, MAX_BUF)
        ba = bytearray()
        while len(ba) < target:
            ba += self.chunk[: min(STEP, target - len(ba))]
            if self.rng.randrange(100) == 0:
                self.long_lived()
            if self.stop.is_set():
                return
        self.queue.append(bytes(ba))

    def run(self):
        while not self.stop.is_set():
            self.build()

    def live(self):
        return sum(len(b) for b in self.queue) + sum(len(b) for b in self.ring)


def worker(threads, seconds, seed):
    stop = threading.Event()
    churners = [Churner(seed * 1000 + i, stop) for i in range(threads)]
    for c in churners:
        c.start()
    time.sleep(seconds)
    stop.set()
    for c in churners:
        c.join()
    say("LIVE %d %d" % (os.getpid(), sum(c.live() for c in churners)))
    deadline = time.monotonic() + LIFETIME
    signal.signal(signal.SIGTERM, lambda s, f: os._exit(0))
    while time.monotonic() < deadline:
        time.sleep(3600)
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    stopping = []
    signal.signal(signal.SIGTERM, lambda s, f: stopping.append(s))
    say("PARENT %d" % os.getpid())
    kids = []
    for i in range(args.procs):
        pid = os.fork()
        if pid == 0:
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                worker(args.threads, args.seconds, args.seed + i)
            finally:
                os._exit(1)
        kids.append(pid)
    signal.alarm(LIFETIME)
    while not stopping:
        signal.pause()
    for pid in kids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in kids:
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
