#!/usr/bin/env python3
"""lab_stats.py LOG... -- the statistical lab tests' quantities over many lab boots, and the
false-failure rate each test's bar implies (docs/test-statistics.md).

LOGs are lab guests' console logs (build/lab/lab4.log, lab8.log; scripts/soak.sh keeps each
iteration's as SOAK_DIR/soak-results/iter-K.labN.log). For each Carrefour lab test and guest
size it prints the checked quantity's mean, standard deviation and minimum over the boots, and
the estimated probability that one run fails although nothing is wrong:

  - carrefour.private_follows: each thread's share of its pages on its own node at the end of
    the checked run; bar 60 %, checked for every thread (N threads: N checks);
  - carrefour.shared_spreads, carrefour.shared_hold: each node's pages as a share of an even
    share; bar: above 0 (N checks; 40 % until 2026-12-03), and the pages' imbalance, bar 50 % (one check); shared_spreads
    also node 0's share of all pages, bar 50 %;
  - nest.carrefour: each region's share of its pages on the node of the vCPU touching it at
    the end (Carrefour on guest memory, the nested lab); bar 60 %, checked for every region
    (4 regions: 4 checks, on lab8 too);
  - any test's waits that print "WHAT after S s (deadline D s)": the time, bar D.

The estimate: the quantity taken as normal, its standard deviation replaced by the upper end
of its 95 % confidence interval from the boots seen (chi-square with boots - 1 degrees of
freedom: values of one boot are correlated, so boots, not threads, count), and the checks of
one run combined by the union bound: P(run fails) <= checks x P(one value past the bar).
"""
import math
import re
import sys
from collections import defaultdict


def phi_upper(z):
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def chi2_cdf(x, k):
    """P(X <= x) for X chi-square with k degrees of freedom (the regularized lower incomplete
    gamma function P(k/2, x/2), by its series)."""
    if x <= 0:
        return 0.0
    a, y = k / 2.0, x / 2.0
    term = total = 1.0 / a
    n = 1
    while term > total * 1e-15 and n < 10000:
        term *= y / (a + n)
        total += term
        n += 1
    return math.exp(-y + a * math.log(y) - math.lgamma(a)) * total


def chi2_lower(p, k):
    """The p-quantile of chi-square with k degrees of freedom (bisection on the CDF)."""
    lo, hi = 0.0, max(10.0, 10.0 * k)
    for _ in range(200):
        mid = (lo + hi) / 2
        if chi2_cdf(mid, k) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def sections(text):
    """{test name: its lines} of one console log."""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"XPV-LAB BEGIN (\S+)", line)
        if m:
            cur = m.group(1)
            out[cur] = []
        elif line.startswith("XPV-LAB END"):
            cur = None
        elif cur:
            out[cur].append(line)
    return out


def main(paths):
    # samples[(test, nodes, quantity)] = list of per-boot lists of values
    samples = defaultdict(list)
    bars = {}
    for path in paths:
        text = open(path, errors="replace").read()
        m = re.search(r"nodes=(\d+)", text)
        if not m:
            continue
        nodes = int(m.group(1))
        for test, lines in sections(text).items():
            if test == "carrefour.private_follows":
                vals = []
                for line in lines:
                    m = re.match(r"cf-work private thread=\d+ node=\d+ pages=(\d+) local=(\d+)", line)
                    if m:
                        vals.append(100.0 * int(m.group(2)) / int(m.group(1)))
                if len(vals) >= 2 * nodes:  # the measurement run, then the checked run
                    samples[(test, nodes, "thread's pages local %")].append(vals[-nodes:])
                    bars[(test, nodes, "thread's pages local %")] = (60, "low", nodes)
            if test == "nest.carrefour":
                vals = []
                for line in lines:
                    m = re.match(r"\s*region \d+: ([0-9.]+) % of \d+ pages on node", line)
                    if m:
                        vals.append(float(m.group(1)))
                if vals:
                    samples[(test, nodes, "region's pages local %")].append(vals)
                    bars[(test, nodes, "region's pages local %")] = (60, "low", len(vals))
            for line in lines:  # a test's waits: "  WHAT after S s (deadline D s)"
                m = re.match(r"\s*(.+) after ([0-9.]+) s \(deadline ([0-9.]+) s\)", line)
                if m:
                    key = (test, nodes, m.group(1)[:26] + " s")
                    samples[key].append([float(m.group(2))])
                    bars[key] = (float(m.group(3)), "high", 1)
            if test in ("carrefour.shared_spreads", "carrefour.shared_hold"):
                for line in lines:
                    m = re.match(r"cf-work shared pages=(\d+) ((?:n\d+=\d+ )+)", line)
                    if not m:
                        continue
                    pages = int(m.group(1))
                    c = [int(x.split("=")[1]) for x in m.group(2).split()]
                    even = pages / len(c)
                    share = [100.0 * x / even for x in c]
                    mean = sum(c) / len(c)
                    imb = 100 * math.sqrt(sum((x - mean) ** 2 for x in c) / (len(c) - 1)) / mean
                    samples[(test, nodes, "node's share of even %")].append(share)
                    bars[(test, nodes, "node's share of even %")] = (0, "low", len(c))
                    samples[(test, nodes, "imbalance %")].append([imb])
                    bars[(test, nodes, "imbalance %")] = (50, "high", 1)
                    if test == "carrefour.shared_spreads":
                        samples[(test, nodes, "node 0's share of pages %")].append([100.0 * c[0] / pages])
                        bars[(test, nodes, "node 0's share of pages %")] = (50, "high", 1)
    print(f"{'test':28} {'N':>2} {'quantity':26} {'boots':>5} {'mean':>6} {'sd':>5} {'sd95':>5} "
          f"{'worst':>6} {'bar':>5} {'z':>5} {'P(run fails)':>12}")
    for key in sorted(samples):
        test, nodes, q = key
        boots = samples[key]
        vals = [v for b in boots for v in b]
        n = len(vals)
        mean = sum(vals) / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else float("nan")
        k = len(boots) - 1
        sd95 = sd * math.sqrt(k / chi2_lower(0.05, k)) if k >= 1 else float("nan")
        bar, side, checks = bars[key]
        worst = min(vals) if side == "low" else max(vals)
        margin = mean - bar if side == "low" else bar - mean
        if sd95 != sd95:  # one boot: no spread to speak of
            z = p = float("nan")
        elif sd95 == 0:  # every value the same
            z, p = (float("inf"), 0.0) if margin > 0 else (float("-inf"), 1.0)
        else:
            z = margin / sd95
            p = min(1.0, checks * phi_upper(z))
        print(f"{test:28} {nodes:>2} {q:26} {len(boots):>5} {mean:6.1f} {sd:5.1f} {sd95:5.1f} "
              f"{worst:6.1f} {bar:>5} {z:5.1f} {p:12.1e}")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) > 1 else 2)
    main(sys.argv[1:])
