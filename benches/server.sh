#!/usr/bin/env bash
# Measures issue 19 on a generated week (docs/server.md): who is the server, against the truth
# the generator writes; what `suggest` writes for an app subnet from the first day, checked on
# the other days; and what `sample` keeps for the benchmark's eight internal policies.
#
# The same flows are written three times from one seed: AWS's default format with the truth of
# who served each record, a v5 custom format with tcp-flags (an outside check: where the flags
# decide), and the default format with the apps on 7311, a port no list of services knows.
#
# It is a measurement: every number it prints comes from this run. It exits 1 when a target of
# the issue is missed or a command fails, 0 when all hold, 2 for bad arguments. The `cost` part
# (the rule's cost a record and its memory) is a measurement without a target: it prints
# ratios to baselines measured in the same run and never makes the script exit 1 by itself.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: benches/server.sh [--days N] [--mb-per-day M] [--seed S] [--data DIR] [--keep] [--no-build]
                         [--debug] [--skip truth,suggest,sample,sample-week,cost] [--rounds N]

  --days N         days of 5-minute files (default 7)
  --mb-per-day M   gzip megabytes per day (default 45, the benchmark's)
  --seed S         generator seed (default 5; the tests use 3, the benchmark 1)
  --data DIR       where the archives go (default ${TMPDIR:-/tmp}/flowgate-server-<days>d-<M>mb-seed<S>);
                   reused when they exist
  --keep           keep the archives this run generated
  --no-build       use the binaries already built (default: cargo build --release first)
  --debug          use the debug build (for small archives; times are then not comparable)
  --skip LIST      leave out some parts, comma-separated
  --rounds N       interleaved rounds of the cost part's CPU times (default 5)
EOF
}

days=7 mb=45 seed=5 data="" keep=0 build=1 skip="" profile=release rounds=5
start=2026-11-01
today=2026-11-26
while [[ $# -gt 0 ]]; do
    case $1 in
    --days) days=$2; shift 2 ;;
    --mb-per-day) mb=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --no-build) build=0; shift ;;
    --debug) profile=debug; shift ;;
    --skip) skip=",$2,"; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "server.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
wants() { [[ $skip != *",$1,"* ]]; }

repo=$(cd "$(dirname "$0")/.." && pwd)
data=${data:-${TMPDIR:-/tmp}/flowgate-server-${days}d-${mb}mb-seed${seed}}
case $data/ in "$repo"/*) echo "server.sh: --data must be outside the repository" >&2; exit 2 ;; esac
target=${CARGO_TARGET_DIR:-$repo/target}
flowgate=$target/$profile/flowgate
generate=$target/$profile/examples/generate
truth=$target/$profile/examples/truth
work=$(mktemp -d)
generated=()
cleanup() {
    rm -rf "$work"
    if ((keep == 0)); then
        for d in "${generated[@]}"; do rm -rf "$d"; done
    fi
}
trap cleanup EXIT

if ((build)); then
    release=()
    if [[ $profile == release ]]; then release=(--release); fi
    (cd "$repo" && cargo build "${release[@]}" --quiet --bin flowgate --example generate --example truth)
fi

failed=0
verdict() { # verdict NAME OK(0/1) TEXT
    if (($2)); then echo "PASS  $1: $3"; else echo "MISS  $1: $3"; failed=1; fi
}
# Peak RSS (KiB) and wall seconds of a command, into $rss and $secs; its output to $work/out.
# Its exit status goes to $rc: check exits 1 when a policy fails, which is a result, not an error.
timed() {
    rc=0
    /usr/bin/time -f '%M %e' -o "$work/time" "$@" >"$work/out" 2>"$work/err" || rc=$?
    read -r rss secs < <(tail -n 1 "$work/time")
    if ((rc > 1)); then
        cat "$work/err" >&2
        return "$rc"
    fi
}

gen() { # gen DIR ARGS...: one archive of the week, unless it is there already
    local dir=$1
    shift
    if [[ -d $dir/AWSLogs ]]; then return; fi
    generated+=("$dir")
    "$generate" bench --out "$dir" --days "$days" --mb-per-day "$mb" --seed "$seed" --start "$start" "$@" >/dev/null
}

echo "== archives: $days days x $mb MB, seed $seed, in $data"
gen "$data/default" --truth "$data/truth"
day_dir() { echo "$1/AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/$(printf %02d "$2")"; }
day1=$(day_dir "$data/default" 1)
echo "   day 1: $(du -sb "$day1" | cut -f1) bytes of gzip; week: $(du -sb "$data/default/AWSLogs" | cut -f1)"

if wants truth; then
    gen "$data/v5" --extra-fields "tcp-flags flow-direction"
    gen "$data/port7311" --app-port 7311 --truth "$data/truth7311"
    echo
    echo "== who is the server: default format against the truth, and against tcp-flags of the same flows"
    "$truth" --logs "$data/default" --truth "$data/truth" --flags "$data/v5" | tee "$work/truth" | grep -v '  wrong:'
    pct=$(sed -n 's/.*keyed to the right server (\([0-9.]*\)%).*/\1/p' "$work/truth")
    verdict "right server, apps on 8080" "$(awk -v p="$pct" 'BEGIN {print (p >= 99.9)}')" "$pct% (target >= 99.9%)"
    echo
    echo "== who is the server: the apps on 7311"
    "$truth" --logs "$data/port7311" --truth "$data/truth7311" | tee "$work/truth7311" | grep -v '  wrong:'
    pct=$(sed -n 's/.*keyed to the right server (\([0-9.]*\)%).*/\1/p' "$work/truth7311")
    verdict "right server, apps on 7311" "$(awk -v p="$pct" 'BEGIN {print (p >= 99.5)}')" "$pct% (target >= 99.5%)"
fi

if wants suggest; then
    for subnet in "app-subnet-1 10.0.16.0/20" "app-subnet-2 10.0.32.0/20"; do
        read -r name net <<<"$subnet"
        echo
        echo "== suggest for $name ($net) from day 1, checked on days 2-$days"
        policy=$work/$name.toml
        "$flowgate" suggest --logs "$day1" --scope-peer "$net" --widen /20 --name "$name" --out "$policy"
        rules=$(grep -c '^\[\[allow\]\]' "$policy")
        ports=$(awk -F' = ' '/_port = / {n = gsub(/,/, ",", $2) + 1; if (n > m) m = n} END {print m + 0}' "$policy")
        grep -E '^(name|protocol|peer_port|local_port) = ' "$policy" | paste -sd' ' | sed 's/ name = /\n   /g; s/^name = /   /'
        verdict "$name rules" "$((rules <= 20))" "$rules rules (target <= 20)"
        verdict "$name ports a rule" "$((ports <= 10))" "at most $ports ports in a rule (target <= 10)"
        rest=()
        for ((d = 2; d <= days; d++)); do rest+=("$(day_dir "$data/default" "$d")"); done
        rc=0
        "$flowgate" check --policies "$policy" --logs "${rest[@]}" --today "$today" >"$work/check-$name" || rc=$?
        verdict "$name on days 2-$days" "$((rc == 0))" "check exits $rc ($(grep -m1 -E 'would be blocked$|records:' "$work/check-$name" | sed 's/^ *//'))"
    done
fi

policies=$repo/benches/sample-policies
summary() { # the verdicts of a JSON report, as far as a sample must keep them
    jq -S '[.policies[] | {name, status, conversations: ([.conversations[] | [.protocol, .client, .server, .server_port]] | sort),
        used: [.allows[] | .hits > 0], waived: [.waivers[] | .hits > 0], demands: [.demands[] | [.kind, .status]]}]' "$1"
}

if wants sample; then
    echo
    echo "== sample of day 1 for the eight internal policies of benches/sample-policies, at rate 0"
    timed "$flowgate" sample --logs "$day1" --out "$work/sample-day" --policies "$policies" --rate 0 --seed 7
    sed 's/^/   /' "$work/out"
    day_bytes=$(du -sb "$day1" | cut -f1)
    sample_bytes=$(find "$work/sample-day" -name '*.gz' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
    share=$(awk -v s="$sample_bytes" -v d="$day_bytes" 'BEGIN {printf "%.1f", 100 * s / d}')
    verdict "sample size" "$(awk -v p="$share" 'BEGIN {print (p < 15)}')" "$sample_bytes of $day_bytes bytes, $share% (target < 15%)"
    rc=0
    "$flowgate" check --policies "$policies" --logs "$day1" --today "$today" --json "$work/full.json" >/dev/null || rc=$?
    "$flowgate" check --policies "$policies" --logs "$work/sample-day" --today "$today" --json "$work/sample.json" >/dev/null || rc=$?
    summary "$work/full.json" >"$work/full.sum"
    summary "$work/sample.json" >"$work/sample.sum"
    conv=$(jq '[.[].conversations | length] | add' "$work/full.sum")
    if cmp -s "$work/full.sum" "$work/sample.sum"; then
        verdict "sample verdicts" 1 "every verdict, conversation ($conv), used rule, waiver and demand as on the day"
    else
        diff "$work/full.sum" "$work/sample.sum" | head -20
        verdict "sample verdicts" 0 "the sample's verdicts differ from the day's"
    fi
fi

if wants sample-week; then
    echo
    echo "== sample of the week for the same policies, against check of the week (peak RSS, wall time)"
    for round in 1 2; do
        timed "$flowgate" check --policies "$policies" --logs "$data/default" --today "$today"
        echo "   check  round $round: $secs s, $((rss / 1024)) MiB (exit $rc)"
        check_secs[round]=$secs
        rm -rf "$work/sample-week"
        timed "$flowgate" sample --logs "$data/default" --out "$work/sample-week" --policies "$policies" --rate 0 --seed 7
        echo "   sample round $round: $secs s, $((rss / 1024)) MiB"
        sample_secs[round]=$secs sample_rss[round]=$rss
    done
    ratio=$(awk -v a="${sample_secs[1]}" -v b="${sample_secs[2]}" -v c="${check_secs[1]}" -v d="${check_secs[2]}" \
        'BEGIN {printf "%.2f", (a + b) / (c + d)}')
    peak=$(((sample_rss[1] > sample_rss[2] ? sample_rss[1] : sample_rss[2]) / 1024))
    verdict "sample of the week, memory" "$((peak < 256))" "peak $peak MiB (target < 256 MiB)"
    verdict "sample of the week, time" "$(awk -v r="$ratio" 'BEGIN {print (r <= 2)}')" "$ratio x check's time (target <= 2)"
fi

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
cpu() { # cpu NAME COMMAND...: user + sys seconds of one run, appended to $work/cpu-NAME
    local name=$1
    shift
    /usr/bin/time -f '%U %S' -o "$work/time" "$@" >/dev/null 2>"$work/err" || true
    awk '{print $1 + $2}' "$work/time" | tail -n 1 >>"$work/cpu-$name"
}
# Instructions of a command under callgrind (one thread: the count does not depend on the
# machine's load, which the CPU times below do).
instructions() {
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind" "$@" >/dev/null 2>"$work/err" || true
    awk '/^(summary|totals):/ {print $2; exit}' "$work/callgrind"
}

if wants cost; then
    gen "$data/v5" --extra-fields "tcp-flags flow-direction"
    v5day1=$(day_dir "$data/v5" 1)
    echo
    echo "== the rule's cost a record: instructions (callgrind, 1 thread) on 12:00-13:00 of day 1"
    hour=("$day1"/*_20261101T12*.log.gz)
    hour5=("$v5day1"/*_20261101T12*.log.gz)
    lines=$(zcat "${hour[@]}" | wc -l)
    records=$((lines - ${#hour[@]}))
    echo "   ${#hour[@]} archives, $records records"
    if command -v valgrind >/dev/null; then
        i_inspect=$(instructions "$flowgate" inspect --logs "${hour[@]}" --threads 1)
        i_servers=$(instructions "$flowgate" inspect --logs "${hour[@]}" --threads 1 --server-evidence)
        i_check=$(instructions "$flowgate" check --policies "$policies" --logs "${hour[@]}" --threads 1 --today "$today")
        i_check5=$(instructions "$flowgate" check --policies "$policies" --logs "${hour5[@]}" --threads 1 --today "$today")
        awk -v r="$records" -v a="$i_inspect" -v b="$i_servers" -v c="$i_check" -v d="$i_check5" 'BEGIN {
            printf "   inspect                        %13d instructions, %6.0f a record\n", a, a / r
            printf "   inspect + server evidence      %13d instructions, %6.0f a record\n", b, b / r
            printf "   check, 8 policies              %13d instructions, %6.0f a record\n", c, c / r
            printf "   check, 8 policies, v5 + flags  %13d instructions, %6.0f a record\n", d, d / r
            printf "   the server evidence: %.0f instructions a record, %.1f%% of the check'"'"'s; check default / v5 with flags: %.3f\n",
                (b - a) / r, 100 * (b - a) / c, c / d
        }'
    else
        echo "   valgrind is not installed (apt-get install valgrind): no instruction counts"
    fi

    echo
    echo "== the rule's cost a record: CPU seconds (user + sys, median of $rounds interleaved rounds, 1 thread) on day 1"
    day5=$v5day1
    records=$(($(zcat "$day1"/*.log.gz | wc -l) - $(find "$day1" -name '*.log.gz' | wc -l)))
    rm -f "$work"/cpu-*
    for ((r = 1; r <= rounds; r++)); do
        cpu inspect "$flowgate" inspect --logs "$day1" --threads 1
        cpu servers "$flowgate" inspect --logs "$day1" --threads 1 --server-evidence
        cpu check "$flowgate" check --policies "$policies" --logs "$day1" --threads 1 --today "$today"
        cpu check5 "$flowgate" check --policies "$policies" --logs "$day5" --threads 1 --today "$today"
    done
    m_inspect=$(median <"$work/cpu-inspect") m_servers=$(median <"$work/cpu-servers")
    m_check=$(median <"$work/cpu-check") m_check5=$(median <"$work/cpu-check5")
    awk -v r="$records" -v a="$m_inspect" -v b="$m_servers" -v c="$m_check" -v d="$m_check5" 'BEGIN {
        printf "   %d records; inspect %.2f s, inspect + server evidence %.2f s, check %.2f s, check of v5 + flags %.2f s\n", r, a, b, c, d
        printf "   inspect + server evidence / inspect: %.3f (%.0f ns a record, %.1f%% of the check'"'"'s CPU)\n", b / a, 1e9 * (b - a) / r, 100 * (b - a) / c
        printf "   check default format / check v5 with flags: %.3f\n", c / d
    }'

    echo
    echo "== the rule's memory on the week: peak RSS at 2 threads"
    timed "$flowgate" inspect --logs "$data/default" --threads 2
    rss_inspect=$rss
    timed "$flowgate" inspect --logs "$data/default" --threads 2 --server-evidence
    rss_servers=$rss
    timed "$flowgate" check --policies "$policies" --logs "$data/default" --threads 2 --today "$today"
    rss_check=$rss
    echo "   inspect $((rss_inspect / 1024)) MiB, inspect + server evidence $((rss_servers / 1024)) MiB (+$(((rss_servers - rss_inspect) / 1024)) MiB), check of 8 policies $((rss_check / 1024)) MiB"
    if [[ -s $work/truth ]]; then
        echo "   $(grep '^evidence:' "$work/truth") (the truth test's pass over the week)"
    fi
fi

echo
if ((failed)); then echo "some targets missed"; exit 1; fi
echo "all targets hold"
