#!/usr/bin/env python3
"""fake_qemu.py — a hostile or stalled "QEMU" for the host daemon's attack tests
(tests/hostd/attack_hostd.sh, docs/security.md "The host <-> guest channel and the event loop").

  fake_qemu.py vm QMP SERIAL [flood|ack]
      A QMP server that describes a one-vCPU VM (its vCPU thread is this process's main
      thread) with an XPV virtio-serial port whose chardev is the unix socket SERIAL, which
      this process listens on like QEMU's `server=on` chardev. With `flood`, whoever connects
      to SERIAL (the daemon) gets an endless stream of garbage frame headers, each claiming a
      payload of 4096 or 60 bytes with a wrong CRC: the guest's side of finding 4 of
      issue 18. Reads and drops what the daemon sends there (its RECORD kicks); with `ack`,
      answers each RECORD frame with the ACK of its generation, as the guest agent does.
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


def crc32c(data, crc=0xFFFFFFFF):
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc


def frame(ftype, payload):
    head = b"XPVF" + struct.pack("<BBHI", 1, ftype, 0, len(payload))
    crc = crc32c(head + payload) ^ 0xFFFFFFFF
    return head + struct.pack("<I", crc) + payload


def acker(conn):
    """The guest agent's side of the port: each RECORD frame (type 2) is acknowledged with
    an ACK (type 3) of the record's generation (u64 at offset 24, docs/record-abi.md)."""
    buf = b""
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while True:
                at = buf.find(b"XPVF")
                if at < 0 or len(buf) < at + 16:
                    break
                ftype, length = buf[at + 5], struct.unpack_from("<I", buf, at + 8)[0]
                if len(buf) < at + 16 + length:
                    break
                payload = buf[at + 16:at + 16 + length]
                buf = buf[at + 16 + length:]
                if ftype == 2 and length >= 32:
                    conn.sendall(frame(3, payload[24:32]))
    except OSError:
        pass


def drain(conn):
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


def serve_serial(conn, mode):
    if mode == "ack":
        acker(conn)
        return
    threading.Thread(target=drain, args=(conn,), daemon=True).start()
    if mode != "flood":
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
    mode = sys.argv[4] if len(sys.argv) > 4 else ""
    q, ser = listen(qmp), listen(serial)
    threading.Thread(target=accept_loop, args=(ser, serve_serial, mode), daemon=True).start()
    print("ready", flush=True)
    accept_loop(q, serve_qmp, serial)


if __name__ == "__main__":
    main()
