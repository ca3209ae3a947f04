# Shared by the bench scripts (sourced, not run): the 4 MB-file fixture and wall-clock medians.

# make_fixture DIR MB: writes MB/4 files DIR/data/fNN.bin of 4 MB each, half random bytes
# and half repetitive text (so compression has work of both kinds).
make_fixture() {
    python3 - "$1" "$2" <<'PY'
import os, sys
root, mb = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{root}/data", exist_ok=True)
text = b"".join(b"line %06d of a compressible log file\n" % i for i in range(60000))
for f in range(mb // 4):
    with open(f"{root}/data/f{f:02}.bin", "wb") as out:
        out.write(os.urandom(2 << 20))
        out.write(text[: 2 << 20])
PY
}

# time_ms CMD...: wall time of one run in milliseconds (output discarded; a failure aborts).
time_ms() {
    local start end
    start=$(date +%s%N)
    if ! "$@" >/dev/null 2>"${BENCH_ERR:-/dev/null}"; then
        echo "bench: failed: $*" >&2
        [ -n "${BENCH_ERR:-}" ] && cat "$BENCH_ERR" >&2
        exit 1
    fi
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}

# median_ms RUNS CMD...: median wall time over RUNS runs (PREPARE, if set, runs untimed first).
median_ms() {
    local n=$1; shift
    local samples=()
    for _ in $(seq "$n"); do
        ${PREPARE:-true}
        samples+=("$(time_ms "$@")")
    done
    median "${samples[@]}"
}

# median N...: the median of the numbers given.
median() {
    printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
