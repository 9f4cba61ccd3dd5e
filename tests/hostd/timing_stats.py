#!/usr/bin/env python3
"""timing_stats.py LOG... -- the host-side timing checks of hostd.* tests over many runs, and
the false-failure rate each bar implies (docs/test-statistics.md, "Host-side timing tests").

LOGs are ctest -V outputs, one per iteration (scripts/soak.sh N -R ... -V keeps them as
SOAK_DIR/soak-results/iter-K.log). The tests print each checked quantity on a line of its own:

  - "WHAT after S s (deadline D s)": a wait (tests/hostd/timed_wait.sh) or measure_rounds.py's
    slowest request / slowest `xpv domains`; bar: at most D;
  - "rounds share R (at least S)": measure_rounds.py's rounds counted over rounds expected;
    bar: at least S.

Lines of one test and one quantity within one iteration are that run's checks (union bound);
iterations, not lines, count as the samples of the spread (values of one run are correlated).
For each it prints the mean, sd, sd95 (upper end of the 95 % confidence interval of sd, from a
chi-square with iterations - 1 degrees of freedom), the worst value, the bar, and the bound on
P(run fails) = checks x P(one value past the bar), with the value taken as normal ("normal")
and, for times, its logarithm taken as normal ("lognormal": a time's right tail is longer
than a normal one's). The larger of the two is the rate to quote.
"""
import importlib.util
import math
import os
import re
import sys
from collections import defaultdict

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "lab_stats", os.path.join(here, "..", "..", "scripts", "lab_stats.py"))
lab_stats = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lab_stats)


def bound(vals, runs, bar, side, checks):
    n = len(vals)
    mean = sum(vals) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else float("nan")
    k = runs - 1
    sd95 = sd * math.sqrt(k / lab_stats.chi2_lower(0.05, k)) if k >= 1 else float("nan")
    margin = mean - bar if side == "low" else bar - mean
    if sd95 != sd95:
        return mean, sd, sd95, float("nan")
    if sd95 == 0:
        return mean, sd, sd95, 0.0 if margin > 0 else 1.0
    return mean, sd, sd95, min(1.0, checks * lab_stats.phi_upper(margin / sd95))


def main(paths):
    # samples[(test, quantity)][iteration] = values
    samples = defaultdict(lambda: defaultdict(list))
    bars = {}
    for it, path in enumerate(paths):
        names, seen = {}, defaultdict(int)
        for line in open(path, errors="replace"):
            m = re.match(r"\s*Start\s+(\d+): (\S+)", line)
            if m:
                names[m.group(1)] = m.group(2)
                continue
            m = re.match(r"(\d+):\s+(.+?) after ([0-9.]+) s \(deadline ([0-9.]+) s\)", line)
            if m:
                test = names.get(m.group(1), "#" + m.group(1))
                what = re.sub(r"pid \d+", "pid N", m.group(2))
                # the k-th wait of that name in the run is a check of its own (its deadline,
                # its quantity: the daemon stopping at once, or after its 5 s grace)
                seen[(test, what)] += 1
                k = seen[(test, what)]
                key = (test, what + (" #%d" % k if k > 1 else "") + " (s)")
                samples[key][it].append(float(m.group(3)))
                bars[key] = (float(m.group(4)), "high")
                continue
            m = re.match(r"(\d+):\s+rounds share ([0-9.]+) \(at least ([0-9.]+)\)", line)
            if m:
                test = names.get(m.group(1), "#" + m.group(1))
                seen[(test, "rounds share")] += 1
                k = seen[(test, "rounds share")]
                key = (test, "rounds share" + (" #%d" % k if k > 1 else ""))
                samples[key][it].append(float(m.group(2)))
                bars[key] = (float(m.group(3)), "low")
    print(f"{'test':31} {'quantity':44} {'runs':>4} {'mean':>7} {'sd':>6} {'sd95':>6} "
          f"{'worst':>7} {'bar':>5} {'normal':>8} {'lognormal':>9}")
    for key in sorted(samples):
        test, q = key
        per_run = samples[key]
        vals = [v for r in per_run.values() for v in r]
        runs = len(per_run)
        checks = max(len(r) for r in per_run.values())
        bar, side = bars[key]
        worst = min(vals) if side == "low" else max(vals)
        mean, sd, sd95, p = bound(vals, runs, bar, side, checks)
        plog = float("nan")
        if side == "high" and min(vals) > 0:
            _, _, _, plog = bound([math.log(v) for v in vals], runs, math.log(bar), side, checks)
        print(f"{test:31} {q[:44]:44} {runs:>4} {mean:7.3f} {sd:6.3f} {sd95:6.3f} {worst:7.3f} "
              f"{bar:>5g} {p:8.1e} {plog:9.1e}")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) > 1 else 2)
    main(sys.argv[1:])
