#!/usr/bin/env bash
# What one more allow rule costs a check (issue 21): `flowgate check` on the same logs with one
# policy of 1, 10, 100, ... rules, CPU seconds (user + sys) per run, and from them the cost of a
# rule per record judged. With --old, a second build runs the same checks in the same rounds
# (interleaved, the order swapped every round), its JSON report must be byte-identical, and
# each row gives new / old.
#
#   benches/rules.sh [BINARY] [--old OLD_BINARY] [--logs DIR] [--shape ports|hosts|mixed]
#                    [--ladder "1 10 100 1000 10000 62000"] [--runs R] [--threads N]
#
# Shapes (one policy file, written by awk, deterministic): `ports` is allow = [{dst_port = 1},
# {dst_port = 2}, ...] with a scope that holds every record; `hosts` is one /32 `peer` a rule
# under `peer = "10.0.0.0/8"`; `mixed` is `[[allow]]` tables of protocol, peer port range and
# /24 network. A count past what fits the loader's 1 MiB is lowered to fit. Defaults: the
# bundled fixtures (3,923 records), 3 runs, 1 thread. Copy each build first
# (cp target/release/flowgate /tmp/fg-new): cargo replaces the file in place.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}
bin=target/release/flowgate old='' logs=fixtures shape=ports ladder="1 10 100 1000 10000 62000"
runs=3 threads=1
if [[ $# -gt 0 && $1 != --* ]]; then
    bin=$1
    shift
fi
while [[ $# -gt 0 ]]; do
    [[ $# -ge 2 ]] || usage
    case $1 in
        --old) old=$2 ;;
        --logs) logs=$2 ;;
        --shape) shape=$2 ;;
        --ladder) ladder=$2 ;;
        --runs) runs=$2 ;;
        --threads) threads=$2 ;;
        *) usage ;;
    esac
    shift 2
done
[[ $shape =~ ^(ports|hosts|mixed)$ && $runs =~ ^[1-9][0-9]*$ && $threads =~ ^[1-9][0-9]*$ ]] || usage
for n in $ladder; do [[ $n =~ ^[1-9][0-9]*$ ]] || usage; done
[[ -x $bin ]] || { echo "rules.sh: $bin is not an executable (cargo build --release?)" >&2; exit 2; }
[[ -z $old || -x $old ]] || { echo "rules.sh: $old is not an executable" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "rules.sh: needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }

scratch=$(mktemp -d /tmp/flowgate-rules-bench.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

policy() {
    awk -v n="$2" -v shape="$1" 'BEGIN {
        if (shape == "mixed") {
            print "[scope]\npeer = \"10.0.0.0/8\""
            for (i = 0; i < n; i++)
                printf "[[allow]]\nprotocol=\"tcp\"\npeer_port=\"%d-%d\"\npeer=\"10.%d.%d.0/24\"\n", i % 60000 + 1, i % 60000 + 3, int(i / 256) % 256, i % 256
        } else {
            printf "allow=["
            for (i = 0; i < n; i++) {
                if (i) printf ","
                if (shape == "ports") printf "{dst_port=%d}", i % 65535 + 1
                else printf "{peer=\"10.%d.%d.%d\"}", int(i / 65536) % 256, int(i / 256) % 256, i % 256
            }
            print "]"
            if (shape == "hosts") print "[scope]\npeer = \"10.0.0.0/8\""
        }
        print "# rules: " n
    }'
}

# Writes the policy of (at most) $1 rules into $scratch/p$1 and prints the rules written.
write() {
    local n=$1 dir=$scratch/p$1 bytes
    mkdir -p "$dir"
    while true; do
        policy "$shape" "$n" >"$dir/$shape.toml"
        bytes=$(wc -c <"$dir/$shape.toml")
        ((bytes > 1048576)) || break
        n=$((n * 1040000 / bytes))
    done
    echo "$n"
}

# One check: its CPU seconds (user + sys) to stdout, the JSON to $scratch/$2.json.
run() {
    local b=$1 tag=$2 dir=$3 rc=0
    /usr/bin/time -f '%U %S' -o "$scratch/time" "$b" check --policies "$dir" --logs "$logs" \
        --threads "$threads" --today 2026-11-26 --format json >"$scratch/$tag.json" 2>"$scratch/err" || rc=$?
    if ((rc > 1)); then
        echo "rules.sh: $b exited $rc on $dir:" >&2
        cat "$scratch/err" >&2
        exit 1
    fi
    tail -n 1 "$scratch/time" | awk '{ printf "%.3f", $1 + $2 }'
}

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "build: $bin${old:+; old build: $old}; logs: $logs; shape: $shape; threads: $threads; runs: $runs"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
declare -A new_s old_s rules_of
for n in $ladder; do
    rules_of[$n]=$(write "$n")
done
for ((r = 0; r < runs; r++)); do
    for n in $ladder; do
        if [[ -n $old ]] && ((r % 2 == 1)); then
            old_s[$n]+="$(run "$old" old "$scratch/p$n") "
            new_s[$n]+="$(run "$bin" new "$scratch/p$n") "
        else
            new_s[$n]+="$(run "$bin" new "$scratch/p$n") "
            [[ -n $old ]] && old_s[$n]+="$(run "$old" old "$scratch/p$n") "
        fi
        if [[ -n $old ]] && ! cmp -s "$scratch/new.json" "$scratch/old.json"; then
            echo "rules.sh: the JSON reports differ at $n rules" >&2
            diff <(head -c 4000 "$scratch/old.json") <(head -c 4000 "$scratch/new.json") >&2 || true
            exit 1
        fi
    done
done
# Records judged: the run's records (the scope of every shape holds most of them).
records=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run"]["records"])' "$scratch/new.json")
printf '%-8s %10s' rules cpu-s
[[ -n $old ]] && printf ' %10s %9s' old-cpu-s new/old
printf ' %14s' ns/rule/rec
[[ -n $old ]] && printf ' %14s' old-ns/rule/rec
echo
first=''
for n in $ladder; do
    k=${rules_of[$n]}
    m=$(echo "${new_s[$n]}" | median)
    [[ -z $first ]] && { first=$n; m0=$m; k0=$k; [[ -n $old ]] && o0=$(echo "${old_s[$first]}" | median); }
    # The added cost of a rule per record: from the first rung of the ladder to this one.
    slope() { awk -v a="$1" -v b="$2" -v dk=$((k - k0)) -v rec="$records" 'BEGIN { if (dk > 0) printf "%.3f", (b - a) * 1e9 / dk / rec; else printf "-" }'; }
    printf '%-8s %10s' "$k" "$m"
    if [[ -n $old ]]; then
        o=$(echo "${old_s[$n]}" | median)
        printf ' %10s %9s' "$o" "$(awk -v a="$m" -v b="$o" 'BEGIN { if (b > 0) printf "%.3f", a / b; else printf "-" }')"
    fi
    printf ' %14s' "$(slope "$m0" "$m")"
    [[ -n $old ]] && printf ' %14s' "$(slope "$o0" "$o")"
    echo
done
echo "records: $records; ${old:+JSON reports identical between the builds at every rung; }CPU seconds are medians of $runs"
echo "load after: $(uptime | sed 's/.*load average/load average/')"
