#!/usr/bin/env python3
"""measure_rounds.py XPV SOCKET PERIOD WINDOW MIN_SHARE MAX_LATENCY — do the daemon's rounds
keep their period, and does `xpv domains` answer, while an attack runs (attack_hostd.sh)?

Over WINDOW seconds it asks `xpv domains --json` every 0.25 s, timing each call (the whole
client: start, connect, request, reply). The rounds counted are the increase of
stats.rounds between the first and the last answer; the rounds expected, the time between
them divided by PERIOD. Passes when rounds >= MIN_SHARE x expected and every call answered
within MAX_LATENCY seconds; prints the figures either way (one line, "rounds: ...").
"""
import json
import subprocess
import sys
import time

xpv, sock = sys.argv[1], sys.argv[2]
period, window, share, max_lat = (float(a) for a in sys.argv[3:7])


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


samples = []
start = time.monotonic()
while True:
    samples.append(ask())
    if time.monotonic() - start >= window:
        break
    time.sleep(0.25)  # not a wait: the spacing of the samples within the measurement window
ok = [s for s in samples if s[2] is not None]
slowest = max(s[1] for s in samples)
failed = [s[3] for s in samples if s[2] is None]
if len(ok) < 2:
    print("rounds: fewer than two answers from xpv domains in %.1f s (slowest call %.2f s): %s"
          % (window, slowest, "; ".join(failed[:3])))
    sys.exit(1)
span = (ok[-1][0] + ok[-1][1] / 2) - (ok[0][0] + ok[0][1] / 2)
rounds = ok[-1][2] - ok[0][2]
expected = span / period
need = share * expected
print("rounds: %d in %.2f s at a period of %.2f s: %.1f expected, at least %.1f required; "
      "xpv domains: %d/%d answered, slowest %.3f s (at most %.2f s allowed)%s"
      % (rounds, span, period, expected, need, len(ok), len(samples), slowest, max_lat,
         "; failures: " + "; ".join(failed[:3]) if failed else ""))
sys.exit(0 if rounds >= need and not failed and slowest <= max_lat else 1)
