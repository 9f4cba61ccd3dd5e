#!/usr/bin/env python3
"""ctest_junit.py — read what `ctest --output-junit FILE` wrote (one run's tests: name, status,
output).

  ctest_junit.py skips FILE
      One line: `skipped: N (name: reason; name: reason ...)`. A test counts as skipped when
      CTest skipped it (SKIP_RETURN_CODE or SKIP_REGULAR_EXPRESSION); its reason is the first
      line of its output starting `skip: ` (docs/development.md, "Skips"), or says there was
      none. Exit 0 (the caller keeps ctest's own status).

  ctest_junit.py soak OUTDIR FILE...
      FILE...: one per iteration of scripts/soak.sh, in order. Prints a table per test: runs,
      passes, failures, skips, the iterations that failed; for each test that failed, the last
      lines of its first failing output go to OUTDIR/<test>.fail.txt (named in the table).
      Exit 1 when any test failed in any iteration (or a FILE is missing), else 0.

JUnit from CTest (3.21+): <testcase name=... status="run|fail|notrun|disabled">, with
<skipped message="SKIP_RETURN_CODE=77"/> (or SKIP_REGULAR_EXPRESSION_MATCHED) for a skip;
other notrun tests (a failed fixture, a missing executable) are failures, as CTest counts them.
"""

import os
import re
import sys
import xml.etree.ElementTree as ET

SKIP_LINE = re.compile(r"^\s*skip: (.*\S)")
TAIL = 60  # lines of a failing output kept


def cases(path):
    """(name, kind, output) per test of one JUnit file; kind: pass, fail or skip."""
    out = []
    for tc in ET.parse(path).getroot().iter("testcase"):
        name = tc.get("name")
        status = tc.get("status")
        text = tc.findtext("system-out") or ""
        sk = tc.find("skipped")
        if status == "run":
            kind = "pass"
        elif status == "notrun" and sk is not None and \
                sk.get("message", "").startswith("SKIP_"):
            kind = "skip"
        elif status == "disabled":
            continue
        else:
            kind = "fail"
        out.append((name, kind, text))
    return out


def reason(text):
    for line in text.splitlines():
        m = SKIP_LINE.match(line.replace("\r", ""))
        if m:
            return m.group(1)
    return "no 'skip:' line in its output"


def skips(path):
    if not os.path.exists(path):
        print("skipped: unknown (ctest wrote no %s)" % path)
        return 0
    try:
        found = [(n, reason(t)) for n, k, t in cases(path) if k == "skip"]
    except ET.ParseError as e:
        print("skipped: unknown (%s: %s)" % (path, e))
        return 0
    if found:
        print("skipped: %d (%s)" % (len(found), "; ".join("%s: %s" % f for f in found)))
    else:
        print("skipped: 0")
    return 0


def soak(outdir, files):
    stats = {}  # name -> dict(runs, pass, fail, skip, failed_in, file, reasons)
    order = []
    missing = []
    for i, path in enumerate(files, 1):
        if not os.path.exists(path):
            missing.append(i)
            continue
        for name, kind, text in cases(path):
            s = stats.get(name)
            if s is None:
                s = stats[name] = {"runs": 0, "pass": 0, "fail": 0, "skip": 0, "failed_in": [],
                                   "file": "", "reasons": []}
                order.append(name)
            s["runs"] += 1
            s[kind] += 1
            if kind == "skip" and reason(text) not in s["reasons"]:
                s["reasons"].append(reason(text))
            if kind == "fail":
                s["failed_in"].append(i)
                if not s["file"]:
                    s["file"] = os.path.join(outdir, name + ".fail.txt")
                    lines = text.splitlines()
                    with open(s["file"], "w") as f:
                        f.write("%s, iteration %d of %d: the last %d of %d lines of its output\n"
                                % (name, i, len(files), min(TAIL, len(lines)), len(lines)))
                        f.write("\n".join(lines[-TAIL:]) + "\n")
    width = max([len(n) for n in order] + [4])
    print("%-*s  %4s  %5s  %5s  %5s  %s" % (width, "test", "runs", "pass", "fail", "skip",
                                           "failed in iterations: first failure's output"))
    for name in order:
        s = stats[name]
        extra = ""
        if s["fail"]:
            extra = "%s: %s" % (",".join(map(str, s["failed_in"])), s["file"])
        elif s["skip"]:
            extra = "skip: " + "; ".join(s["reasons"])
        print(("%-*s  %4d  %5d  %5d  %5d  %s" % (width, name, s["runs"], s["pass"], s["fail"],
                                                s["skip"], extra)).rstrip())
    failed = [n for n in order if stats[n]["fail"]]
    if missing:
        print("no results from iteration(s) %s (ctest wrote no JUnit file)"
              % ",".join(map(str, missing)))
    if not order:
        print("no test ran")
        return 1
    print("%d test(s), %d iteration(s): %s" % (len(order), len(files),
          "%d failed at least once" % len(failed) if failed else "no failure"))
    return 1 if failed or missing else 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "skips":
        return skips(sys.argv[2])
    if len(sys.argv) >= 4 and sys.argv[1] == "soak":
        return soak(sys.argv[2], sys.argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
