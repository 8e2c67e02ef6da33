#!/usr/bin/env python3
"""memwarden's example service: a WebSocket-style server with the allocation
pattern of the incident in memwarden's README (stdlib only, Python 3.9+).

    python3 service.py                  # the server (the example image's CMD)
    python3 service.py send LINE...     # a client: send each LINE, print the answers
    python3 service.py load [--connections N] [--seconds S] [--max-frame BYTES]

The server, on EXAMPLE_PORT (8765), keeps many long-lived connections, each
with a history of the last 16 frames it was sent, of varying sizes, every
frame assembled by appends of 3.2 KB as a WebSocket server assembles
messages; and EXAMPLE_WORKERS (2) worker processes that churn bytes the same
way (buffers of 32 KB to 1.3 MB grown in 3.2 KB steps, 8 kept, one small
long-lived block every 100 steps), busy for EXAMPLE_CHURN (0.2) of every
second. Under glibc that pattern leaves each process's arenas holding far
more than it uses; under the jemalloc memwarden preloads it does not.

Requests are one line each; every answer is one line:
    PING          PONG <pid>
    MSG <bytes>   OK <bytes this connection holds>   (assemble and keep a frame)
    HOLD <MB>     HELD <bytes>   the process keeps MB more (chunks of 4 KB to
                                 1 MB, written): the service grows, as the
                                 incident's pods did, for memwarden to react
    HOLD <MB> <S> HOLDING <bytes> OVER <S>   the same, spread evenly over S
                                 seconds in the background (HOLD 600 60:
                                 a steady 10 MB/s)
    FREE          HELD 0         drop what HOLD kept, stop any growth
    STATS         one JSON object: pid, workers, connections, frame bytes,
                                 held bytes, RSS, allocator (jemalloc, glibc)
    QUIT          BYE, and the connection ends

On SIGTERM (memwarden's stop, after its drain delay) the server stops
listening, sends BYE to every client, stops its workers and exits 0.
Its own lines go to stdout; memwarden's JSON lines go to stderr.
"""

import argparse
import asyncio
import collections
import json
import os
import random
import signal
import sys
import time

PORT = int(os.environ.get("EXAMPLE_PORT", "8765"))
WORKERS = int(os.environ.get("EXAMPLE_WORKERS", "2"))
CHURN = min(max(float(os.environ.get("EXAMPLE_CHURN", "0.2")), 0.0), 1.0)
HISTORY = 16
STEP = 3200
MIB = 1024 * 1024
CHUNK = (bytes(range(256)) * (STEP // 256 + 1))[:STEP]


def say(text):
    """One line on stdout in one write(2)."""
    os.write(1, ("example[%d]: %s\n" % (os.getpid(), text)).encode())


def assemble(size):
    """A frame of SIZE bytes built by appends, the way messages arrive."""
    ba = bytearray()
    while len(ba) < size:
        ba += CHUNK[: min(STEP, size - len(ba))]
    return bytes(ba)


def allocator():
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return "unknown", False
    return ("jemalloc" if "libjemalloc" in maps else "glibc"), "memwarden-agent" in maps


def rss():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# --------------------------------------------------------------------------
# Workers: separate processes churning bytes (Python's GIL would serialize
# threads, and the effect needs several allocating processes).


def worker(index, parent):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rng = random.Random(index)
    queue = collections.deque(maxlen=8)
    ring = [b""] * 400
    head = 0
    while os.getppid() == parent:
        busy_until = time.monotonic() + CHURN
        while time.monotonic() < busy_until:
            target = rng.randint(32 * 1024, 1300 * 1024)
            ba = bytearray()
            while len(ba) < target:
                ba += CHUNK
                if rng.randrange(100) == 0:
                    ring[head] = bytes([head % 251]) * rng.randint(64, 4096)
                    head = (head + 1) % len(ring)
            queue.append(bytes(ba))
        time.sleep(1.0 - CHURN if CHURN < 1.0 else 0.01)
    os._exit(0)  # the server is gone


# --------------------------------------------------------------------------
# The server.


class Conn:
    def __init__(self):
        self.frames = collections.deque(maxlen=HISTORY)

    def bytes(self):
        return sum(len(f) for f in self.frames)


class Server:
    def __init__(self, workers):
        self.workers = workers
        self.conns = set()
        self.writers = set()
        self.held = []
        self.held_bytes = 0
        self.growing = set()
        self.served = 0
        self.rng = random.Random(os.getpid())

    def hold(self, nbytes):
        left = nbytes
        while left > 0:
            n = min(left, self.rng.randint(4096, MIB))
            self.held.append(bytes([len(self.held) % 251 + 1]) * n)  # written, not just mapped
            self.held_bytes += n
            left -= n
        return self.held_bytes

    async def hold_over(self, nbytes, seconds):
        steps = max(1, int(seconds * 10))
        for i in range(steps):
            await asyncio.sleep(seconds / steps)
            self.hold(nbytes * (i + 1) // steps - nbytes * i // steps)

    def grow(self, nbytes, seconds):
        task = asyncio.get_running_loop().create_task(self.hold_over(nbytes, seconds))
        self.growing.add(task)
        task.add_done_callback(self.growing.discard)

    def stats(self):
        alloc, agent = allocator()
        return {"pid": os.getpid(), "workers": self.workers, "connections": len(self.conns),
                "frame_bytes": sum(c.bytes() for c in self.conns), "held": self.held_bytes,
                "served": self.served, "rss": rss(), "allocator": alloc, "agent": agent}

    def request(self, conn, line):
        """The answer to one request line; None ends the connection."""
        self.served += 1
        word, _, arg = line.partition(" ")
        word = word.upper()
        try:
            if word == "PING":
                return "PONG %d" % os.getpid()
            if word == "MSG":
                size = int(arg)
                if not 0 <= size <= 16 * MIB:
                    return "ERR MSG takes 0 to 16777216 bytes"
                conn.frames.append(assemble(size))
                return "OK %d" % conn.bytes()
            if word == "HOLD":
                mb, _, secs = arg.partition(" ")
                mb, secs = int(mb), float(secs or 0)
                if not (0 <= mb <= 4096 and 0 <= secs <= 86400):
                    return "ERR HOLD takes 0 to 4096 MB and 0 to 86400 seconds"
                if secs == 0:
                    return "HELD %d" % self.hold(mb * MIB)
                self.grow(mb * MIB, secs)
                return "HOLDING %d OVER %g" % (mb * MIB, secs)
            if word == "FREE":
                for task in list(self.growing):
                    task.cancel()
                self.held, self.held_bytes = [], 0
                return "HELD 0"
            if word == "STATS":
                return json.dumps(self.stats())
            if word == "QUIT":
                return None
        except ValueError:
            return "ERR %s needs a number" % word
        return "ERR unknown request %r (PING, MSG, HOLD, FREE, STATS, QUIT)" % word[:40]

    async def handle(self, reader, writer):
        conn = Conn()
        self.conns.add(conn)
        self.writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                answer = self.request(conn, line.decode("utf-8", "replace").strip())
                if answer is None:
                    writer.write(b"BYE\n")
                    break
                writer.write(answer.encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError):
            pass
        finally:
            self.conns.discard(conn)
            self.writers.discard(writer)
            writer.close()

    async def serve(self):
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        server = await asyncio.start_server(self.handle, host="0.0.0.0", port=PORT,
                                            reuse_address=True, backlog=1024)
        alloc, agent = allocator()
        say("listening on port %d; workers %s; allocator %s%s" % (
            PORT, " ".join(map(str, self.workers)) or "none", alloc,
            ", memwarden's agent loaded" if agent else ""))
        await stop.wait()
        say("stopping: %d connections, %d requests served" % (len(self.conns), self.served))
        server.close()
        for w in list(self.writers):
            try:
                w.write(b"BYE\n")
                w.close()
            except (ConnectionError, RuntimeError):
                pass
        await asyncio.sleep(0)


def serve():
    parent = os.getpid()
    workers = []
    for i in range(WORKERS):
        pid = os.fork()
        if pid == 0:
            try:
                worker(i, parent)
            finally:
                os._exit(1)
        workers.append(pid)
    try:
        asyncio.run(Server(workers).serve())
    finally:
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in workers:
            os.waitpid(pid, 0)
    say("stopped")
    return 0


# --------------------------------------------------------------------------
# Clients.


async def send(lines, host, port):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    ok = True
    for line in lines:
        writer.write(line.encode() + b"\n")
        await writer.drain()
        answer = (await asyncio.wait_for(reader.readline(), 60)).decode().rstrip("\n")
        print(answer, flush=True)
        ok = ok and bool(answer) and not answer.startswith("ERR")
    writer.close()
    return 0 if ok else 1


async def load(a):
    """N connections held open at once, each sending MSG frames of random
    sizes for S seconds; then STATS while all are still open."""
    conns = []
    for _ in range(a.connections):
        conns.append(await asyncio.wait_for(asyncio.open_connection(a.host, a.port), 5))
    rng = random.Random()
    deadline = time.monotonic() + a.seconds
    counts = {"requests": 0, "errors": 0}

    async def talk(reader, writer):
        while time.monotonic() < deadline:
            writer.write(b"MSG %d\n" % rng.randint(1024, a.max_frame))
            await writer.drain()
            answer = await reader.readline()
            counts["requests" if answer.startswith(b"OK ") else "errors"] += 1

    await asyncio.gather(*(talk(r, w) for r, w in conns))
    reader, writer = conns[0]
    writer.write(b"STATS\n")
    await writer.drain()
    server = json.loads(await reader.readline())
    for _, w in conns:
        w.close()
    print(json.dumps(dict(connections=len(conns), server=server, **counts)), flush=True)
    return 0 if counts["requests"] and not counts["errors"] else 1


def main():
    if len(sys.argv) < 2:
        return serve()
    ap = argparse.ArgumentParser(description="memwarden's example service and its clients")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=PORT)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send", help="send each LINE, print each answer")
    s.add_argument("lines", nargs="+", metavar="LINE")
    ld = sub.add_parser("load", help="many connections sending frames")
    ld.add_argument("--connections", type=int, default=50)
    ld.add_argument("--seconds", type=float, default=5.0)
    ld.add_argument("--max-frame", type=int, default=64 * 1024)
    a = ap.parse_args()
    if a.cmd == "send":
        return asyncio.run(send(a.lines, a.host, a.port))
    return asyncio.run(load(a))


if __name__ == "__main__":
    sys.exit(main())
