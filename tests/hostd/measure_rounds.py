#!/usr/bin/env python3
"""measure_rounds.py XPV SOCKET PERIOD WINDOW MIN_SHARE MAX_LATENCY — do the daemon's rounds
keep their period, and does it answer its control socket, while an attack runs
(attack_hostd.sh, ops_hostd.sh metrics_attack)?

Over WINDOW seconds, every 0.25 s, it sends {"cmd":"domains"} over a socket of its own and
times it (connect to the whole reply line: the daemon's service time), then runs
`xpv domains --json` and times that too (the whole client: exec, connect, request, reply).
The rounds counted are the increase of stats.rounds between the first and the last answer;
the rounds expected, the time between them divided by PERIOD. Passes when

  - rounds >= MIN_SHARE x expected;
  - every request was answered within MAX_LATENCY seconds, timed in this process. The bar is
    the daemon's control deadline (HOSTD_CTL_DEADLINE_MS, 1 s): a daemon whose loop a hostile
    client could hold would hold it until that client's deadline, so a held request waits at
    least that long; a served one waits for the loop's next turn (docs/test-statistics.md);
  - every `xpv domains` answered, within the client's own limit of 10 s (it gives up then:
    hostd_control_request). Its time is mostly the start of an (ASan) process on a loaded
    machine, nothing the daemon controls, so it is printed, and bounded only by that limit.

Prints the figures either way ("rounds: ..."), then, for tests/hostd/timing_stats.py, the
checked quantities one a line: "  rounds share R (at least S)", "  slowest request after S s
(deadline D s)", "  slowest xpv domains after S s (deadline 10 s)".
"""
import json
import socket
import struct
import subprocess
import sys
import time

xpv, sock = sys.argv[1], sys.argv[2]
period, window, share, max_lat = (float(a) for a in sys.argv[3:7])
CLIENT_LIMIT = 10.0  # hostd_control_request's poll() for the reply


def ask_raw():
    """The daemon's service time: connect, send, read the reply line, in this process."""
    t0 = time.monotonic()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            # a blocking connect, as the client's: it waits for room in the listen backlog
            # (a socket with a timeout is non-blocking, and gets EAGAIN when the backlog is
            # full); SO_SNDTIMEO bounds that wait
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 15, 0))
            s.connect(sock)
            s.settimeout(15)
            s.sendall(b'{"cmd":"domains"}\n')
            buf = b""
            while b"\n" not in buf:
                got = s.recv(65536)
                if not got:
                    return time.monotonic() - t0, "closed without a reply"
                buf += got
    except OSError as e:
        return time.monotonic() - t0, "request: %s" % e
    t1 = time.monotonic()
    return t1 - t0, "" if json.loads(buf).get("ok") else buf.decode(errors="replace")[:200]


def ask():
    t0 = time.monotonic()
    try:
        out = subprocess.run([xpv, "domains", "--socket", sock, "--json"], capture_output=True,
                             timeout=15, check=False)
    except subprocess.TimeoutExpired:
        return t0, time.monotonic() - t0, None, "no answer in 15 s"
    t1 = time.monotonic()
    if out.returncode != 0:
        return t0, t1 - t0, None, out.stderr.decode(errors="replace").strip()
    return t0, t1 - t0, json.loads(out.stdout)["stats"]["rounds"], ""


samples, raw = [], []
start = time.monotonic()
while True:
    raw.append(ask_raw())
    samples.append(ask())
    if time.monotonic() - start >= window:
        break
    time.sleep(0.25)  # not a wait: the spacing of the samples within the measurement window
ok = [s for s in samples if s[2] is not None]
slowest = max(s[1] for s in samples)
slowest_raw = max(r[0] for r in raw)
failed = [s[3] for s in samples if s[2] is None] + [r[1] for r in raw if r[1]]
if len(ok) < 2:
    print("rounds: fewer than two answers from xpv domains in %.1f s (slowest call %.2f s): %s"
          % (window, slowest, "; ".join(failed[:3])))
    sys.exit(1)
span = (ok[-1][0] + ok[-1][1] / 2) - (ok[0][0] + ok[0][1] / 2)
rounds = ok[-1][2] - ok[0][2]
expected = span / period
need = share * expected
print("rounds: %d in %.2f s at a period of %.2f s: %.1f expected, at least %.1f required; "
      "requests: %d, slowest %.3f s (at most %.2f s allowed); xpv domains: %d/%d answered, "
      "slowest %.3f s%s"
      % (rounds, span, period, expected, need, len(raw), slowest_raw, max_lat, len(ok),
         len(samples), slowest, "; failures: " + "; ".join(failed[:3]) if failed else ""))
print("  rounds share %.3f (at least %.2f)" % (rounds / expected, share))
print("  slowest request after %.3f s (deadline %g s)" % (slowest_raw, max_lat))
print("  slowest xpv domains after %.3f s (deadline %g s)" % (slowest, CLIENT_LIMIT))
sys.exit(0 if rounds >= need and not failed and slowest_raw <= max_lat and slowest <= CLIENT_LIMIT
         else 1)
