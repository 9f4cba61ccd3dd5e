#!/usr/bin/env python3
"""fake_qemu.py — a hostile or stalled "QEMU" for the host daemon's attack tests
(tests/hostd/attack_hostd.sh, docs/security.md "The host <-> guest channel and the event loop").

  fake_qemu.py vm QMP SERIAL [flood]
      A QMP server that describes a one-vCPU VM (its vCPU thread is this process's main
      thread) with an XPV virtio-serial port whose chardev is the unix socket SERIAL, which
      this process listens on like QEMU's `server=on` chardev. With `flood`, whoever connects
      to SERIAL (the daemon) gets an endless stream of garbage frame headers, each claiming a
      payload of 4096 or 60 bytes with a wrong CRC: the guest's side of finding 4 of
      issue 18. Reads and drops what the daemon sends there (its RECORD kicks).
      SIGSTOP of this process is a QEMU that stops answering.
  fake_qemu.py silent QMP
      Accepts QMP connections and never says anything (no greeting, no reply).

Prints "ready" on stdout once its sockets listen.
"""
import json
import os
import socket
import struct
import sys
import threading


def listen(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    return s


def qmp_reply(cmd, args, serial):
    if cmd == "qmp_capabilities":
        return {}
    if cmd == "query-name":
        return {"name": "fake"}
    if cmd == "query-status":
        return {"status": "running", "running": True}
    if cmd == "query-cpus-fast":
        return [{"cpu-index": 0, "thread-id": os.getpid(), "props": {"node-id": 0},
                 "qom-path": "/machine/unattached/device[0]", "target": "x86_64"}]
    if cmd == "human-monitor-command":
        return "1 nodes\r\nnode 0 cpus: 0\r\nnode 0 size: 64 MB\r\nnode 0 plugged: 0 MB\r\n"
    if cmd == "qom-list":
        if args.get("path") == "/machine/peripheral":
            return [{"name": "type", "type": "string"},
                    {"name": "port0", "type": "child<virtserialport>"}]
        if args.get("path") == "/objects":
            return []
        return None
    if cmd == "qom-get":
        prop = args.get("property")
        if args.get("path") == "/machine/peripheral/port0" and prop in ("name", "chardev"):
            return "org.xpv.topology" if prop == "name" else "ch0"
        return None
    if cmd in ("query-memdev", "query-memory-devices"):
        return []
    if cmd == "query-chardev":
        return [{"label": "ch0", "filename": "unix:%s,server=on" % serial, "frontend-open": True}]
    return None


def serve_qmp(conn, serial):
    f = conn.makefile("rwb", buffering=0)
    greeting = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 22},
                                    "package": ""}, "capabilities": []}}
    try:
        f.write((json.dumps(greeting) + "\r\n").encode())
        for line in f:
            try:
                m = json.loads(line)
            except ValueError:
                continue
            ret = qmp_reply(m.get("execute"), m.get("arguments") or {}, serial)
            out = ({"return": ret} if ret is not None else
                   {"error": {"class": "GenericError", "desc": "not in this fake"}})
            if "id" in m:
                out["id"] = m["id"]
            f.write((json.dumps(out) + "\r\n").encode())
    except OSError:
        pass
    conn.close()


def garbage():
    """Frame headers with a valid magic, version and type and a wrong CRC, one every 16
    bytes: each makes a decoder whose max payload admits the length wait for and checksum
    16 + length bytes, then resume 1 byte further."""
    out = bytearray()
    for i in range(4096):
        length = 4096 if i % 2 == 0 else 60
        out += b"XPVF" + struct.pack("<BBHII", 1, 3, 0, length, 0xDEADBEEF)
    return bytes(out)


def drain(conn):
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


def serve_serial(conn, flood):
    threading.Thread(target=drain, args=(conn,), daemon=True).start()
    if not flood:
        return
    chunk = garbage()
    try:
        while True:
            conn.sendall(chunk)
    except OSError:
        pass


def accept_loop(s, fn, *args):
    while True:
        conn, _ = s.accept()
        threading.Thread(target=fn, args=(conn,) + args, daemon=True).start()


def main():
    mode = sys.argv[1]
    if mode == "silent":
        s = listen(sys.argv[2])
        held = []
        print("ready", flush=True)
        while True:
            conn, _ = s.accept()
            held.append(conn)  # never answered, never closed
    qmp, serial = sys.argv[2], sys.argv[3]
    flood = len(sys.argv) > 4 and sys.argv[4] == "flood"
    q, ser = listen(qmp), listen(serial)
    threading.Thread(target=accept_loop, args=(ser, serve_serial, flood), daemon=True).start()
    print("ready", flush=True)
    accept_loop(q, serve_qmp, serial)


if __name__ == "__main__":
    main()
