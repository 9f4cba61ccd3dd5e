#!/usr/bin/env python3
"""slow_clients.py SOCKET IDLE — hostile control clients for attack_hostd.sh: IDLE clients
that connect and send nothing, and one "slowloris" that sends a request one byte every 0.9 s;
each is connected again as soon as the daemon drops it, so the pressure never stops. Prints
"ready" once all are connected, then, each time the daemon drops one, a line "dropped N".
"""
import select
import socket
import sys
import time

path, idle = sys.argv[1], int(sys.argv[2])
REQUEST = b'{"cmd":"domains"}\n'


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


clients = [connect() for _ in range(idle)]
slow, pos = connect(), 0
dropped = 0
print("ready", flush=True)
next_byte = time.monotonic()
while True:
    now = time.monotonic()
    if now >= next_byte:
        try:
            slow.send(REQUEST[pos % len(REQUEST):pos % len(REQUEST) + 1])
            pos += 1
        except OSError:
            slow.close()
            slow, pos = connect(), 0
            dropped += 1
            print("dropped %d" % dropped, flush=True)
        next_byte = now + 0.9
    # the daemon dropping a client shows as end of file (or a reset) on its socket
    ready, _, _ = select.select(clients + [slow], [], [], max(0.0, next_byte - time.monotonic()))
    for s in ready:
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if data:
            continue  # a reply (the slowloris finished a request): read and ignored
        s.close()
        dropped += 1
        print("dropped %d" % dropped, flush=True)
        if s is slow:
            slow, pos = connect(), 0
        else:
            clients[clients.index(s)] = connect()
