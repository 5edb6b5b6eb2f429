#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 30), after writing the seed
# corpora: what .ci/run does, and the command to run by hand (fuzz/README.md).
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). libFuzzer's flags are nightly-only,
# so this sets RUSTC_BOOTSTRAP=1 to build them with the stable toolchain. A crash, a panic,
# a failed cross-check, a leak or a timeout makes the target, and this script, fail; the
# input that did it is left in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-30}
shift || true
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
export RUSTC_BOOTSTRAP=1
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo fuzz list)
./seeds.sh
cargo fuzz build
log=$(mktemp /tmp/flowgate-fuzz.XXXXXX)
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
    echo "== fuzz $t for $seconds s"
    # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a memory blow-up.
    status=0
    cargo fuzz run "$t" -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^(INFO: seed corpus|#[0-9]+ +DONE|stat::number_of_executed_units)' "$log" || true
    if ((status != 0)); then
        tail -n 60 "$log"
        echo "fuzz $t FAILED (exit $status); the input is in fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
echo "fuzz: ${#targets[@]} targets, $seconds s each, no failure"
