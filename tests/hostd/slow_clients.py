#!/usr/bin/env python3
"""slow_clients.py SOCKET IDLE [procs] — hostile control clients for attack_hostd.sh: IDLE
clients that connect and send nothing, and one "slowloris" that sends a request one byte
every 0.9 s; each is connected again as soon as the daemon drops it, so the pressure never
stops. All from this one process, or with `procs` each client from a process of its own
(the daemon limits what one process may hold). Prints "ready" once a process's clients are
connected (one line per process), then, each time the daemon drops one, a line "dropped".
"""
import ctypes
import os
import select
import signal
import socket
import sys
import time

path, idle = sys.argv[1], int(sys.argv[2])
procs = len(sys.argv) > 3 and sys.argv[3] == "procs"
REQUEST = b'{"cmd":"domains"}\n'


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def run(n_idle, with_slow):
    clients = [connect() for _ in range(n_idle)]
    slow, pos = (connect() if with_slow else None), 0
    print("ready", flush=True)
    next_byte = time.monotonic()
    while True:
        now = time.monotonic()
        if slow is not None and now >= next_byte:
            try:
                slow.send(REQUEST[pos % len(REQUEST):pos % len(REQUEST) + 1])
                pos += 1
            except OSError:
                slow.close()
                slow, pos = connect(), 0
                print("dropped", flush=True)
            next_byte = now + 0.9
        # the daemon dropping a client shows as end of file (or a reset) on its socket
        watch = clients + ([slow] if slow is not None else [])
        ready, _, _ = select.select(watch, [], [], max(0.0, next_byte - time.monotonic())
                                    if slow is not None else None)
        for s in ready:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                continue  # a reply (the slowloris finished a request): read and ignored
            s.close()
            print("dropped", flush=True)
            if s is slow:
                slow, pos = connect(), 0
            else:
                clients[clients.index(s)] = connect()


if not procs:
    run(idle, True)
libc = ctypes.CDLL(None)
for i in range(idle + 1):
    if os.fork() == 0:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: gone with the parent
        run(0 if i == idle else 1, i == idle)
for _ in range(idle + 1):
    os.wait()
