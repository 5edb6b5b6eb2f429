#!/usr/bin/env bash
# Compares two flowgate builds on the same archive: interleaved runs of the same check, the
# median and best wall time of each, their ratio, and whether the JSON reports are identical.
#
#   benches/ab.sh OLD_BINARY NEW_BINARY --logs DIR --policies DIR [--rounds N] [--threads N]
#   benches/ab.sh OLD_BINARY NEW_BINARY --logs DIR --what floor [--rounds N] [--threads N]
#
# How every change of the third speed round was judged (docs/performance.md): on a shared VM
# one run's seconds move by 30%, and instruction or simulated-mispredict counts (callgrind,
# cachegrind) do not say which build is faster on the real CPU. Alternating the two builds
# round by round, and swapping which goes first every round, lets drifting load hit both
# alike; rerun with the builds in the other order before believing a few percent.
# Copy each build somewhere first (cp target/release/flowgate /tmp/fg-old): cargo replaces
# the file in place.
set -euo pipefail

usage() {
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}
[[ $# -ge 2 ]] || usage
old=$1 new=$2
shift 2
logs='' policies='' rounds=9 threads=1 what=check
while [[ $# -gt 0 ]]; do
    [[ $# -ge 2 ]] || usage
    case $1 in
        --logs) logs=$2 ;;
        --policies) policies=$2 ;;
        --rounds) rounds=$2 ;;
        --threads) threads=$2 ;;
        # floor: the decompress-and-split floor (`inspect --read-only`), for a change to the
        # reading layer; its summary line is compared instead of the JSON report.
        --what) what=$2 ;;
        *) usage ;;
    esac
    shift 2
done
[[ $what == check || $what == floor ]] || usage
[[ -n $logs && ( -n $policies || $what == floor ) ]] || usage
[[ $rounds =~ ^[1-9][0-9]*$ && $threads =~ ^[1-9][0-9]*$ ]] || usage
for b in "$old" "$new"; do
    [[ -x $b ]] || { echo "ab.sh: $b is not an executable" >&2; exit 2; }
done

scratch=$(mktemp -d /tmp/flowgate-ab.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# One timed check; its wall milliseconds to stdout, its JSON to $scratch/$2.json and its exit
# status to $scratch/$2.rc. Exit 0 and 1 are verdicts; anything else means the build could
# not read the evidence, and stops the script (the `exit` leaves the command substitution,
# whose failure then stops the script under `set -e`).
run() {
    local bin=$1 name=$2 start end rc=0
    start=$(date +%s%N)
    if [[ $what == floor ]]; then
        "$bin" inspect --logs "$logs" --read-only --threads "$threads" \
            >"$scratch/$name.json" 2>"$scratch/$name.err" || rc=$?
    else
        "$bin" check --policies "$policies" --logs "$logs" --threads "$threads" \
            --today 2026-11-26 --format json >"$scratch/$name.json" 2>"$scratch/$name.err" || rc=$?
    fi
    end=$(date +%s%N)
    if ((rc > 1)); then
        echo "ab.sh: $bin exited $rc:" >&2
        cat "$scratch/$name.err" >&2
        exit 1
    fi
    echo "$rc" >"$scratch/$name.rc"
    echo $(((end - start) / 1000000))
}

# Both builds must give the same report and exit status in every round. The JSON holds the
# tool's version, so compare builds of the same version.
differ=0
times_old=() times_new=()
for ((r = 0; r < rounds; r++)); do
    if ((r % 2 == 0)); then
        times_old+=("$(run "$old" old)")
        times_new+=("$(run "$new" new)")
    else
        times_new+=("$(run "$new" new)")
        times_old+=("$(run "$old" old)")
    fi
    if ! cmp -s "$scratch/old.json" "$scratch/new.json" ||
        ! cmp -s "$scratch/old.rc" "$scratch/new.rc"; then
        differ=1
    fi
done

# Median and best (minimum) of a list of milliseconds.
stats() {
    printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)], v[1]}'
}
read -r med_old best_old <<<"$(stats "${times_old[@]}")"
read -r med_new best_new <<<"$(stats "${times_new[@]}")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a < 1) a = 1; if (b < 1) b = 1; printf "%.3f", b / a}'; }

echo "$what; rounds: $rounds, threads: $threads, logs: $logs, policies: ${policies:--}"
printf '%-8s %10s %10s   %s\n' build median-ms best-ms binary
printf '%-8s %10s %10s   %s\n' old "$med_old" "$best_old" "$old"
printf '%-8s %10s %10s   %s\n' new "$med_new" "$best_new" "$new"
echo "new/old: median $(ratio "$med_old" "$med_new"), best $(ratio "$best_old" "$best_new")"
if ((differ)); then
    echo "JSON reports or exit statuses DIFFER" >&2
    exit 1
fi
echo "JSON reports and exit statuses identical in every round"
