#!/usr/bin/env python3
"""prom_check.py FILE [FAMILY...] — is FILE valid Prometheus text exposition format (0.0.4),
following Prometheus's naming conventions? (ops_hostd.sh metrics; docs/hostd.md "Metrics")

Checked, line by line, with a parser of its own (no client library):
  - metric and family names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
    (and do not start with __), label values are quoted with only \\\\, \\" and \\n escapes;
  - each family has one # HELP and one # TYPE, and its TYPE comes before its first sample;
    every sample belongs to a family that has both (a histogram's _bucket, _sum, _count);
    a family's samples are together (not interleaved with another family's);
  - counters end in _total; a name with a unit says it in base units (_seconds, _bytes,
    _ratio, never _milliseconds, _microseconds, _kilobytes...);
  - values are numbers (or +Inf, -Inf, NaN); no sample is repeated (same name and labels);
  - histograms: every _bucket has an le label, buckets are cumulative (non-decreasing in le),
    the le="+Inf" bucket equals _count, and _sum and _count are there.
Then each FAMILY given must be present with at least one sample. Prints what is wrong (all
of it) and exits 1, or "ok: N families, M samples" and 0.
"""
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
BAD_UNITS = ("_milliseconds", "_microseconds", "_nanoseconds", "_kilobytes", "_megabytes",
             "_kib", "_mib", "_percent", "_ms", "_us")

errors = []


def err(lineno, msg):
    errors.append("line %d: %s" % (lineno, msg))


def parse_labels(s, lineno):
    """s starts after '{'; returns (dict, rest after '}')"""
    labels = {}
    i = 0
    while True:
        if i < len(s) and s[i] == "}":
            return labels, s[i + 1:]
        m = re.match(r"([^=\s]+)=\"", s[i:])
        if not m:
            err(lineno, "bad label syntax near %r" % s[i:i + 20])
            return labels, None
        name = m.group(1)
        if not LABEL.match(name) or name.startswith("__"):
            err(lineno, "bad label name %r" % name)
        i += m.end()
        val = []
        while True:
            if i >= len(s):
                err(lineno, "unterminated label value")
                return labels, None
            c = s[i]
            if c == "\\":
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    err(lineno, "bad escape in label value: %r" % s[i:i + 2])
                val.append({"n": "\n"}.get(s[i + 1:i + 2], s[i + 1:i + 2]))
                i += 2
                continue
            if c == '"':
                i += 1
                break
            if c == "\n":
                err(lineno, "raw newline in label value")
            val.append(c)
            i += 1
        if name in labels:
            err(lineno, "label %r twice" % name)
        labels[name] = "".join(val)
        if i < len(s) and s[i] == ",":
            i += 1


def number(v):
    if v in ("+Inf", "-Inf", "NaN"):
        return float(v.replace("Inf", "inf").replace("NaN", "nan"))
    return float(v)


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    want = sys.argv[2:]
    helps, types, first_sample, closed = {}, {}, {}, set()
    samples = []  # (lineno, family, name, labels, value)
    seen = set()
    current = None
    if text and not text.endswith("\n"):
        err(0, "the text does not end with a newline")
    for lineno, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                fam = parts[2]
                if not NAME.match(fam):
                    err(lineno, "bad family name %r" % fam)
                if parts[1] == "HELP":
                    if fam in helps:
                        err(lineno, "second HELP for %s" % fam)
                    helps[fam] = parts[3] if len(parts) > 3 else ""
                else:
                    t = parts[3].strip() if len(parts) > 3 else ""
                    if t not in TYPES:
                        err(lineno, "bad TYPE %r for %s" % (t, fam))
                    if fam in types:
                        err(lineno, "second TYPE for %s" % fam)
                    if fam in first_sample:
                        err(lineno, "TYPE of %s after its samples" % fam)
                    types[fam] = t
            continue
        m = re.match(r"([^{\s]+)(\{)?", line)
        name = m.group(1)
        if not NAME.match(name):
            err(lineno, "bad metric name %r" % name)
        rest = line[m.end():]
        labels = {}
        if m.group(2):
            labels, rest = parse_labels(rest, lineno)
            if rest is None:
                continue
        fields = rest.split()
        if len(fields) not in (1, 2):
            err(lineno, "want a value (and maybe a timestamp): %r" % rest)
            continue
        try:
            value = number(fields[0])
        except ValueError:
            err(lineno, "value %r is not a number" % fields[0])
            continue
        fam = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
                fam = base
        if fam not in types:
            err(lineno, "sample %s before (or without) a TYPE for it" % name)
        if fam not in helps:
            err(lineno, "sample %s without a HELP for it" % name)
        if fam in closed:
            err(lineno, "samples of %s are not together" % fam)
        if current is not None and current != fam:
            closed.add(current)
        current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            err(lineno, "sample %s%s repeated" % (name, labels))
        seen.add(key)
        first_sample.setdefault(fam, lineno)
        samples.append((lineno, fam, name, labels, value))
    for fam, t in types.items():
        if t == "counter" and not fam.endswith("_total"):
            err(0, "counter %s does not end in _total" % fam)
        if t != "counter" and fam.endswith("_total"):
            err(0, "%s ends in _total but is a %s" % (fam, t))
        for u in BAD_UNITS:
            if fam.endswith(u) or (u + "_") in fam:
                err(0, "%s: not a base unit (%s)" % (fam, u))
        if fam not in helps:
            err(0, "%s has a TYPE but no HELP" % fam)
    for fam in helps:
        if fam not in types:
            err(0, "%s has a HELP but no TYPE" % fam)
    # histograms
    for fam, t in types.items():
        if t != "histogram":
            continue
        series = {}
        for lineno, f, name, labels, value in samples:
            if f != fam:
                continue
            rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            s = series.setdefault(rest, {"buckets": [], "sum": None, "count": None})
            if name == fam + "_bucket":
                if "le" not in labels:
                    err(lineno, "%s without le" % name)
                    continue
                s["buckets"].append((number(labels["le"]), value, lineno))
            elif name == fam + "_sum":
                s["sum"] = value
            elif name == fam + "_count":
                s["count"] = value
            else:
                err(lineno, "%s in histogram %s" % (name, fam))
        for rest, s in series.items():
            b = sorted(s["buckets"])
            if not b or b[-1][0] != float("inf"):
                err(0, "%s%s has no le=\"+Inf\" bucket" % (fam, dict(rest)))
                continue
            for (le0, v0, _), (le1, v1, ln) in zip(b, b[1:]):
                if v1 < v0:
                    err(ln, "%s buckets not cumulative (le %g: %g < %g)" % (fam, le1, v1, v0))
            if s["count"] is None or s["sum"] is None:
                err(0, "%s%s lacks _sum or _count" % (fam, dict(rest)))
            elif s["count"] != b[-1][1]:
                err(0, "%s%s: _count %g != +Inf bucket %g" % (fam, dict(rest), s["count"], b[-1][1]))
    for w in want:
        if not any(f == w for _, f, _, _, _ in samples):
            err(0, "no sample of %s" % w)
    if errors:
        print("\n".join(errors))
        return 1
    print("ok: %d families, %d samples" % (len(types), len(samples)))
    return 0


sys.exit(main())
