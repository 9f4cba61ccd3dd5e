# configure.sh — sourced by main.sh and test.sh: configure a CMake tree with clang.
# Both scripts share build/ (other tooling expects build/bin), so they must agree on the
# compiler; only the sanitizer option differs, which CMake switches without a fresh tree.

# xpv_configure DIR [CMAKE ARGS...]
xpv_configure() {
    local dir=$1
    shift
    local cache="$dir/CMakeCache.txt" log="$dir/configure.log"
    mkdir -p "$dir"
    # A tree configured with another compiler cannot be switched in place.
    if [[ -f $cache ]] && ! grep -q '^CMAKE_C_COMPILER:[A-Z]*=.*clang' "$cache"; then
        rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
    fi
    cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "$@" >"$log" 2>&1 || {
        cat "$log" >&2
        echo "configure failed (log above, also in $log)" >&2
        return 1
    }
}
