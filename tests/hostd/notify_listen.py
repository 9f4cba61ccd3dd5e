#!/usr/bin/env python3
"""notify_listen.py PATH OUT — systemd's side of sd_notify(3) for ops_hostd.sh: a datagram
socket bound at PATH (what $NOTIFY_SOCKET names); each message received is appended to OUT as
one line, its KEY=VALUE lines joined by ';', flushed at once. Prints "ready" once bound."""
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
print("ready", flush=True)
with open(out, "a", encoding="utf-8") as f:
    while True:
        msg = s.recv(4096).decode(errors="replace")
        f.write(";".join(l for l in msg.split("\n") if l) + "\n")
        f.flush()
