#!/usr/bin/env python3
"""hwloc_oracle.py XPV ROOT — check that `xpv topo --root ROOT --json` says what hwloc says.

hwloc is the reference: its own tool (lstopo-no-graphics --of xml, with HWLOC_FSROOT=ROOT and
the x86 CPUID backend off, as xpv does for a root) describes the machine independently of
xpv's conversion code. Compared, field by field:

  node ids            the os_index of every NUMANode
  local_cpus          hwloc's node cpuset (its locality) restricted to online CPUs
  cpus                the kernel's nodeN/cpulist (or cpumap) of the tree, read here directly,
                      restricted to online CPUs; and it must lie inside hwloc's locality
  memory_bytes        hwloc's local_memory
  cpus_online         hwloc's topology cpuset
  cpus_offline        complete cpuset minus topology cpuset
  cpus_allowed        allowed cpuset ∩ online;  nodes_allowed: allowed nodeset
  distances           hwloc's OS-provided latency matrix (NUMALatency), by node id; absent
                      in hwloc <=> distances_from_firmware is false

Exit 0 when all agree, 1 with every difference listed, 2 on bad usage or a tool failure, 77
(CTest: skipped, with a line "skip: <reason>") without lstopo-no-graphics.
"""

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET


def hwloc_set(s):
    """hwloc's XML bitmap: comma-separated 32-bit hex words, most significant first; an
    empty word is zero (hwloc abbreviates runs of zero words)."""
    if not s:
        return set()
    out = set()
    words = s.split(",")
    for k, w in enumerate(reversed(words)):
        w = w.strip()
        if w.lower() == "0xf...f":  # infinite set: cannot happen for a finite machine
            raise ValueError("infinite bitmap " + s)
        v = int(w, 16) if w else 0
        bit = 0
        while v:
            if v & 1:
                out.add(32 * k + bit)
            v >>= 1
            bit += 1
    return out


def kernel_list(text):
    out = set()
    for part in text.strip().split(","):
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-")
            out.update(range(int(a), int(b) + 1))
        else:
            out.add(int(part))
    return out


def kernel_mask(text):
    out = set()
    words = text.strip().split(",")
    for k, w in enumerate(reversed(words)):
        v = int(w, 16)
        out.update(32 * k + b for b in range(32) if v >> b & 1)
    return out


def tree_node_cpus(root, nid):
    d = os.path.join(root, "sys/devices/system/node/node%d" % nid)
    for name, parse in (("cpulist", kernel_list), ("cpumap", kernel_mask)):
        try:
            with open(os.path.join(d, name)) as f:
                return parse(f.read())
        except (OSError, ValueError):
            continue
    return None


def fmt(s):
    s = sorted(s)
    if not s:
        return "{}"
    parts, i = [], 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[j] + 1:
            j += 1
        parts.append(str(s[i]) if i == j else "%d-%d" % (s[i], s[j]))
        i = j + 1
    return ",".join(parts)


def run_hwloc(root):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWLOC_")}
    env.update(HWLOC_FSROOT=root, HWLOC_COMPONENTS="-x86")
    p = subprocess.run(["lstopo-no-graphics", "--of", "xml", "--disallowed", "--no-io", "-"],
                       env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("oracle: lstopo-no-graphics failed on %s: %s" % (root, p.stderr.strip()) or 2)
    return ET.fromstring(p.stdout)


def run_xpv(xpv, root):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWLOC_")}
    p = subprocess.run([xpv, "topo", "--root", root, "--json"], env=env, capture_output=True,
                       text=True)
    if p.returncode != 0:
        print("xpv topo failed (exit %d) on %s:\n%s" % (p.returncode, root, p.stderr))
        sys.exit(1)
    return json.loads(p.stdout)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    xpv, root = sys.argv[1], os.path.abspath(sys.argv[2])
    if not shutil.which("lstopo-no-graphics"):
        print("skip: lstopo-no-graphics not found, hwloc's own view is missing "
              "(apt-get install hwloc-nox, or scripts/setup.sh test)")
        return 77
    if not os.path.isdir(root):
        print("oracle: %s is not a directory" % root, file=sys.stderr)
        return 2
    doc = run_hwloc(root)
    x = run_xpv(xpv, root)
    errors = []

    def same(what, got, want):
        if got != want:
            errors.append("%s: xpv says %s, hwloc says %s" % (what, got, want))

    machine = doc.find(".//object[@type='Machine']")
    online = hwloc_set(machine.get("cpuset"))
    complete = hwloc_set(machine.get("complete_cpuset"))
    same("cpus_online", fmt(x["cpus_online"]), fmt(online))
    same("cpus_offline", fmt(x["cpus_offline"]), fmt(complete - online))
    same("cpus_allowed", fmt(x["cpus_allowed"]), fmt(hwloc_set(machine.get("allowed_cpuset")) & online))
    same("nodes_allowed", fmt(x["nodes_allowed"]), fmt(hwloc_set(machine.get("allowed_nodeset"))))

    hnodes = {int(o.get("os_index")): o for o in doc.iter("object") if o.get("type") == "NUMANode"}
    xnodes = {n["id"]: n for n in x["nodes"]}
    same("node ids", sorted(xnodes), sorted(hnodes))
    for nid in sorted(set(hnodes) & set(xnodes)):
        h, n = hnodes[nid], xnodes[nid]
        local = hwloc_set(h.get("cpuset")) & online
        same("node %d local_cpus" % nid, fmt(n["local_cpus"]), fmt(local))
        same("node %d memory_bytes" % nid, n["memory_bytes"], int(h.get("local_memory", "0")))
        same("node %d memory_mb" % nid, n["memory_mb"], int(h.get("local_memory", "0")) >> 20)
        kernel = tree_node_cpus(root, nid)
        if kernel is not None:
            same("node %d cpus (vs the tree's cpulist)" % nid, fmt(n["cpus"]), fmt(kernel & online))
        if not set(n["cpus"]) <= local:
            errors.append("node %d: cpus %s not inside hwloc's locality %s"
                          % (nid, fmt(n["cpus"]), fmt(local)))

    ids = [n["id"] for n in x["nodes"]]
    dist = None
    for d in doc.iter("distances2"):
        if d.get("type") == "NUMANode" and d.get("name", "NUMALatency") == "NUMALatency" \
                and int(d.get("kind")) & 1:  # HWLOC_DISTANCES_KIND_FROM_OS
            dist = d
            break
    if dist is None:
        same("distances_from_firmware", x["distances_from_firmware"], False)
    else:
        same("distances_from_firmware", x["distances_from_firmware"], True)
        idx = [int(v) for el in dist.findall("indexes") for v in el.text.split()]
        vals = [int(v) for el in dist.findall("u64values") for v in el.text.split()]
        nb = int(dist.get("nbobjs"))
        if dist.get("indexing") != "os" or len(idx) != nb or len(vals) != nb * nb:
            errors.append("cannot read hwloc's distance matrix (indexing %s, %d indexes, %d values)"
                          % (dist.get("indexing"), len(idx), len(vals)))
        else:
            pos = {nid: k for k, nid in enumerate(idx)}
            for i, a in enumerate(ids):
                for j, b in enumerate(ids):
                    if a in pos and b in pos:
                        same("distance %d->%d" % (a, b), x["distances"][i][j],
                             vals[pos[a] * nb + pos[b]])

    name = os.path.basename(root)
    if errors:
        print("%s: xpv and hwloc disagree:" % name)
        for e in errors:
            print("  " + e)
        return 1
    print("%s: agree on %d nodes, %d online CPUs, %s distances" %
          (name, len(ids), len(online), "with" if dist is not None else "no"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
