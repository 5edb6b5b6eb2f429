#!/usr/bin/env bash
# Times `flowgate lint` and `flowgate check` on policies of tens of thousands of rules, each
# file under the loader's 1 MiB limit (issue 27: the rule-shadowed check was quadratic).
#
#   benches/lint.sh [BINARY] [--old OLD_BINARY] [--rules N] [--timeout S]
#
# Shapes, each one policy file of as many of N rules (default 62,000) as fit in 1 MiB:
# `ports` (the issue's `allow=[{dst_port=1},{dst_port=2},...]`), `ports-step` (every other
# port, so no two rules' ports merge; 32,767 at most), `hosts` (one /32 per rule under a
# peer scope), `mixed` (`[[allow]]` tables of protocol, port range and network, every tenth
# rule inside the one before it, so lint finds shadowed rules). `check` runs them against the
# bundled fixtures. With --old, the same commands run with a second build, interleaved, each
# stopped after --timeout seconds (default 120) and then shown as "> S".
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}
bin=target/release/flowgate old='' rules=62000 limit=120
if [[ $# -gt 0 && $1 != --* ]]; then
    bin=$1
    shift
fi
while [[ $# -gt 0 ]]; do
    [[ $# -ge 2 ]] || usage
    case $1 in
        --old) old=$2 ;;
        --rules) rules=$2 ;;
        --timeout) limit=$2 ;;
        *) usage ;;
    esac
    shift 2
done
[[ $rules =~ ^[1-9][0-9]*$ && $limit =~ ^[1-9][0-9]*$ ]] || usage
[[ -x $bin ]] || { echo "lint.sh: $bin is not an executable (cargo build --release?)" >&2; exit 2; }
[[ -z $old || -x $old ]] || { echo "lint.sh: $old is not an executable" >&2; exit 2; }

scratch=$(mktemp -d /tmp/flowgate-lint-bench.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# One policy directory per shape, written by awk (deterministic: no data to seed), with as
# many of the --rules as fit in 1 MiB; prints the rules and bytes written.
write() {
    local shape=$1 n=$rules dir=$scratch/$1 bytes
    mkdir -p "$dir"
    while true; do
        policy "$shape" "$n" >"$dir/$shape.toml"
        bytes=$(wc -c <"$dir/$shape.toml")
        ((bytes > 1048576)) || break
        n=$((n * 1040000 / bytes))
    done
    echo "$(tail -1 "$dir/$shape.toml" | cut -d' ' -f3) $bytes"
}

policy() {
    awk -v n="$2" -v shape="$1" 'BEGIN {
        # Every other port: at most 32,767 of them.
        if (shape == "ports-step" && n > 32767) n = 32767
        if (shape == "mixed") {
            # As people write them: a table per rule, a key per line.
            print "[scope]\npeer = \"10.0.0.0/8\""
            for (i = 0; i < n; i++) {
                if (i % 10 == 9) printf "[[allow]]\nprotocol=\"tcp\"\npeer_port=%d\npeer=\"10.%d.%d.1\"\n", (i - 1) % 60000 + 1, int((i - 1) / 256) % 256, (i - 1) % 256
                else printf "[[allow]]\nprotocol=\"tcp\"\npeer_port=\"%d-%d\"\npeer=\"10.%d.%d.0/24\"\n", i % 60000 + 1, i % 60000 + 3, int(i / 256) % 256, i % 256
            }
        } else {
            printf "allow=["
            for (i = 0; i < n; i++) {
                if (i) printf ","
                if (shape == "ports") printf "{dst_port=%d}", i % 65535 + 1
                else if (shape == "ports-step") printf "{dst_port=%d}", 2 * i + 1
                else printf "{peer=\"10.%d.%d.%d\"}", int(i / 65536) % 256, int(i / 256) % 256, i % 256
            }
            print "]"
            if (shape == "hosts") print "[scope]\npeer = \"10.0.0.0/8\""
        }
        print "# rules: " n
    }'
}

# Seconds of one command (wall, from GNU time when present), or "> limit" when stopped.
timed() {
    local start end rc=0
    start=$(date +%s%N)
    timeout "$limit" "$@" >"$scratch/out" 2>&1 || rc=$?
    end=$(date +%s%N)
    if ((rc == 124)); then
        echo "> $limit"
    else
        awk -v ns=$((end - start)) 'BEGIN { printf "%.2f", ns / 1e9 }'
    fi
}

echo "build: $bin${old:+; old build: $old}; load: $(uptime | sed 's/.*load average/load average/')"
printf '%-11s %7s %8s %9s %10s %10s' shape rules bytes findings lint-s check-s
[[ -n $old ]] && printf ' %12s %12s' old-lint-s old-check-s
echo
for shape in ports ports-step hosts mixed; do
    read -r n bytes <<<"$(write "$shape")"
    dir=$scratch/$shape
    lint_s=$(timed "$bin" lint --policies "$dir")
    findings=$(grep -c 'rule-shadowed' "$scratch/out" || true)
    check_s=$(timed "$bin" check --policies "$dir" --logs fixtures --today 2026-11-26 --format json)
    printf '%-11s %7s %8s %9s %10s %10s' "$shape" "$n" "$bytes" "$findings" "$lint_s" "$check_s"
    if [[ -n $old ]]; then
        printf ' %12s %12s' "$(timed "$old" lint --policies "$dir")" \
            "$(timed "$old" check --policies "$dir" --logs fixtures --today 2026-11-26 --format json)"
    fi
    echo
done
