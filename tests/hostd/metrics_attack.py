#!/usr/bin/env python3
"""metrics_attack.py HOST PORT — hostile clients of the daemon's metrics endpoint, until
killed (ops_hostd.sh metrics_attack; docs/security.md):
  - 12 slow clients, each sending its request head one byte every 0.5 s (slowloris) and
    reconnecting when dropped;
  - 4 clients connecting and saying nothing, reconnecting when dropped;
  - one sending request heads of 64 KiB without an end, as fast as it can, checking that each
    is answered 431 or cut off (never served in full);
  - one sending a whole request and never reading the answer.
Prints "attacking" once every client connected, then, every second, a line of counts:
"drops N oversize_431 N oversize_cut N". Exits 1 if an oversized head is ever answered 200."""
import socket
import sys
import threading
import time

host, port = sys.argv[1], int(sys.argv[2])
lock = threading.Lock()
counts = {"drops": 0, "oversize_431": 0, "oversize_cut": 0}
bad = []


def bump(k):
    with lock:
        counts[k] += 1


def conn():
    return socket.create_connection((host, port), timeout=5)


def slow():
    head = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 4000
    while True:
        try:
            s = conn()
            for b in head:
                s.send(bytes([b]))
                time.sleep(0.5)  # not a wait: the slowloris pace
        except OSError:
            bump("drops")


def idle():
    while True:
        try:
            s = conn()
            s.settimeout(30)
            if not s.recv(1):
                bump("drops")
        except OSError:
            bump("drops")


def oversize():
    blob = b"GET /metrics HTTP/1.1\r\nX-Big: " + b"b" * 65536
    while True:
        try:
            s = conn()
            try:
                s.sendall(blob)
            except OSError:
                pass
            reply = b""
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    reply += d
            except OSError:
                pass
            if reply.startswith(b"HTTP/1.1 431"):
                bump("oversize_431")
            elif reply.startswith(b"HTTP/1.1 200"):
                bad.append(reply[:80])
            else:
                bump("oversize_cut")
            s.close()
        except OSError:
            bump("oversize_cut")


def nonreader():
    while True:
        try:
            s = conn()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            s.settimeout(30)
            s.recv(0)
            while s.recv(1, socket.MSG_PEEK):
                time.sleep(0.5)  # not a wait: holding the connection open without reading
        except OSError:
            bump("drops")


for fn, n in ((slow, 12), (idle, 4), (oversize, 1), (nonreader, 1)):
    for _ in range(n):
        threading.Thread(target=fn, daemon=True).start()
print("attacking", flush=True)
while True:
    time.sleep(1)  # not a wait: the reporting interval
    with lock:
        print("drops %(drops)d oversize_431 %(oversize_431)d oversize_cut %(oversize_cut)d" % counts,
              flush=True)
    if bad:
        print("an oversized head was served: %r" % bad[0], flush=True)
        sys.exit(1)
