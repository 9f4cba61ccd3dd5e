#!/bin/bash
# help.sh XPV MAIN_C XPV_1 XPV_BASH — test install.help: the generated man page and bash
# completion (dist/gen-from-help.sh) cover every command of src/cli/main.c's commands[] table
# and say what the built xpv's --help says.
#   - xpv.1 renders (groff) without warnings, has a section per command, and every line of
#     each `xpv COMMAND --help` is in it as printed (so the usage lines are);
#   - the completion offers every command after `xpv `, and after `xpv COMMAND -` every long
#     option of that command's option list and usage lines.
# The command list is read from main.c here, not from `xpv --help` as the generator does.
set -eu
xpv=$1 main_c=$2 man=$3 completion=$4
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
mapfile -t cmds < <(sed -n 's/^ *{"\([a-z][a-z0-9-]*\)",.*/\1/p' "$main_c")
((${#cmds[@]} >= 5)) || fail "no command table found in $main_c"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- the man page ---
groff -man -Tascii -P-cbou -ww "$man" >"$tmp/page" 2>"$tmp/warn" || fail "groff failed on $man"
[ ! -s "$tmp/warn" ] || fail "groff warnings on $man: $(cat "$tmp/warn")"
sed 's/ *$//' "$tmp/page" >"$tmp/page.trim"
for c in "${cmds[@]}"; do
    "$xpv" "$c" --help >"$tmp/help" || fail "xpv $c --help failed"
    usage=$(head -1 "$tmp/help")
    grep -qF -- "$usage" "$tmp/page" || fail "xpv.1 lacks the usage line of '$c': $usage"
    grep -qx "XPV ${c^^}" "$tmp/page.trim" || fail "xpv.1 has no section XPV ${c^^}"
    n=0
    while IFS= read -r line; do
        line=${line%"${line##*[! ]}"}
        [ -z "$line" ] && continue
        grep -qF -- "$line" "$tmp/page.trim" || fail "xpv.1, section of '$c', lacks: $line"
        n=$((n + 1))
    done <"$tmp/help"
    echo "xpv.1: $c ($n lines of its --help)"
done

# --- the completion ---
# shellcheck disable=SC1090
source "$completion"
complete_at() { # WORDS...: COMPREPLY for the last word
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMPREPLY=()
    _xpv
    printf '%s\n' "${COMPREPLY[@]}"
}
complete_at xpv "" >"$tmp/top"
for c in "${cmds[@]}"; do
    grep -qx -- "$c" "$tmp/top" || fail "completion of 'xpv ' lacks $c"
    "$xpv" "$c" --help >"$tmp/help"
    opts=$(awk 'NR == 1 || /^  +(-[A-Za-z], )?--[a-z]/' "$tmp/help" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
    complete_at xpv "$c" - >"$tmp/opts"
    for o in $opts --help; do
        grep -qx -- "$o" "$tmp/opts" || fail "completion of 'xpv $c -' lacks $o"
    done
    echo "completion: $c $(wc -l <"$tmp/opts") options"
done
complete_at xpv pub >"$tmp/one"
[ "$(cat "$tmp/one")" = publish ] || fail "completion of 'xpv pub': $(cat "$tmp/one")"
echo PASS
