#!/usr/bin/env python3
"""layering.py — the include graph of src/ against the layers of docs/design.md.

Usage: layering.py ROOT            check ROOT/src against ROOT/docs/design.md
       layering.py --planted ROOT  copy ROOT's src/ and docs/ to a temporary tree, plant an
                                   upward include (the base layer including the simulator's
                                   header), and succeed only if the check refuses it

The table between "<!-- layers -->" and "<!-- /layers -->" in docs/design.md is the one
statement of which library may use which: a row "| name | src/dir | may use |" where "may
use" lists other rows' names ("-" for none; "all" for the CLI). A header belongs to the folder
it lives in: src/DIR/include/xpv/H.h or src/DIR/H.h; the installed ABI headers of include/xpv/
belong to the row whose "ABI headers" column names them. Every '#include "..."' of every .c
and .h under src/ must resolve to its own folder or to a folder its row may use. An include
that resolves nowhere (a header not in the tree, and not one a CMakeLists.txt of src/ generates)
is an error too, so a new folder or header cannot slip past the table.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_layers(root):
    text = open(os.path.join(root, "docs", "design.md"), encoding="utf-8").read()
    m = re.search(r"<!-- layers -->(.*?)<!-- /layers -->", text, re.S)
    if not m:
        sys.exit("layering: docs/design.md has no <!-- layers --> table")
    rows = {}
    for line in m.group(1).splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[1].startswith("src/"):
            continue
        name, folder, uses, abi = cells[0].split()[0], cells[1].rstrip("/"), cells[2], cells[3]
        allowed = set() if uses in ("-", "—", "") else {u.strip() for u in uses.split(",")}
        headers = set() if abi in ("-", "—", "") else {h.strip().strip("`") for h in abi.split(",")}
        rows[name] = {"folder": folder, "uses": allowed, "abi": headers}
    names = set(rows)
    for name, row in rows.items():
        unknown = row["uses"] - names - {"all"}
        if unknown:
            sys.exit(f"layering: row {name} may use unknown rows {sorted(unknown)}")
    return rows


def header_owners(root, rows):
    """Map an include string ("xpv/topo.h", "hostd.h") to the row that owns it."""
    owners = {}
    for name, row in rows.items():
        folder = os.path.join(root, row["folder"])
        for h in row["abi"]:
            owners["xpv/" + h] = name
            if not os.path.exists(os.path.join(root, "include", "xpv", h)):
                sys.exit(f"layering: ABI header include/xpv/{h} of row {name} does not exist")
        inc = os.path.join(folder, "include", "xpv")
        if os.path.isdir(inc):
            for h in os.listdir(inc):
                owners["xpv/" + h] = name
    for h in os.listdir(os.path.join(root, "include", "xpv")):
        if "xpv/" + h not in owners:
            sys.exit(f"layering: include/xpv/{h} is in no row's ABI headers")
    return owners


def check(root):
    rows = read_layers(root)
    owners = header_owners(root, rows)
    by_folder = {row["folder"]: name for name, row in rows.items()}
    cmake = ""  # headers generated at build time are named in src/'s CMake files
    for dirpath, _, files in os.walk(os.path.join(root, "src")):
        for f in files:
            if f == "CMakeLists.txt":
                cmake += open(os.path.join(dirpath, f), encoding="utf-8").read()
    errors = []
    src = os.path.join(root, "src")
    for dirpath, _, files in os.walk(src):
        rel = os.path.relpath(dirpath, root)
        top = "/".join(rel.split(os.sep)[:2])
        if top == "src":
            continue
        me = by_folder.get(top)
        if me is None:
            errors.append(f"{top}: a folder in no row of docs/design.md's layers table")
            continue
        allowed = rows[me]["uses"]
        for f in files:
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, f)
            text = open(path, encoding="utf-8", errors="replace").read()
            for inc in INCLUDE.findall(text):
                if os.path.exists(os.path.join(dirpath, inc)):
                    continue  # the folder's own header
                owner = owners.get(inc)
                if owner is None:  # a folder-local header of another folder ("hostd.h")
                    for name, row in rows.items():
                        if os.path.exists(os.path.join(root, row["folder"], inc)):
                            owner = name
                if owner is None and os.path.basename(inc) in cmake:
                    continue  # generated in the build tree
                if owner is None:
                    errors.append(f"{os.path.relpath(path, root)}: includes \"{inc}\", "
                                  "which no folder of the table holds")
                elif owner != me and "all" not in allowed and owner not in allowed:
                    errors.append(f"{os.path.relpath(path, root)}: {me} includes \"{inc}\" of "
                                  f"{owner}, which {me} may not use (may use: "
                                  f"{', '.join(sorted(allowed)) or 'nothing'})")
    return errors


def planted(root):
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(os.path.join(root, "src"), os.path.join(tmp, "src"))
        shutil.copytree(os.path.join(root, "docs"), os.path.join(tmp, "docs"))
        shutil.copytree(os.path.join(root, "include"), os.path.join(tmp, "include"))
        victim = os.path.join(tmp, "src", "base", "error.c")
        with open(victim, "a", encoding="utf-8") as f:
            f.write('\n#include "xpv/sim.h"\n')
        r = subprocess.run([sys.executable, __file__, tmp], capture_output=True, text=True)
        print(r.stdout, end="")
        if r.returncode == 0:
            print("layering: FAIL: the planted upward include (base -> sim) was not refused")
            return 1
        if "src/base/error.c: base includes \"xpv/sim.h\" of sim" not in r.stdout:
            print("layering: FAIL: refused, but not for the planted include")
            return 1
        print("layering: the planted upward include was refused, as it must be")
        return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--planted":
        return planted(sys.argv[2])
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    errors = check(sys.argv[1])
    for e in errors:
        print(e)
    if errors:
        print(f"layering: {len(errors)} include(s) break docs/design.md's layers")
        return 1
    print("layering: every include of src/ follows docs/design.md's layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
