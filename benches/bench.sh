#!/usr/bin/env bash
# Times `flowgate check` on a generated archive against what it must be compared with: the
# decompress-only pass through flowgate's own reading code (the floor), `zcat | awk` (what users
# do today) and, when installed, libdeflate-gunzip and DuckDB. Every command runs --runs times,
# interleaved round-robin so that load drifting on a shared machine hits all of them alike; the
# report gives medians, peak RSS and the issue-6 ratios with their targets, all from this one run.
#
# It also times issue 21's four policy sets (`generate policy-sets`: one policy of 3 rules, 10
# written by `flowgate suggest`, 100 single-host policies, 100 broad drafts that mostly fail) in
# the same rounds, each as a multiple of the floor (libdeflate-gunzip when installed, else the
# decompress-only pass) with its peak RSS, against issue 21's goals.
#
# With --deliveries it also writes the same records as Parquet (AWS's schema) and as Firehose
# objects of CloudWatch Logs, and times the check on each against the gz text in the same rounds.
#
# It is a measurement: it exits 0 when targets are missed, and non-zero only when a command
# failed (flowgate exit 2 or a crash, a baseline error) or a result is wrong (outputs that differ
# between thread counts). See benches/README.md and docs/performance.md.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: benches/bench.sh [--days N] [--mb-per-day M] [--seed S] [--extra-fields LIST] [--runs R]
                        [--data DIR] [--keep] [--no-build] [--no-generate] [--memory-scaling]
                        [--deliveries] [--no-policy-sets]

  --days N          days of 5-minute files in the archive (default 7)
  --mb-per-day M    gzip megabytes per day (default 45)
  --seed S          generator seed (default 1); another seed gives another archive of the same shape
  --extra-fields L  fields after the default fourteen, quoted and space-separated, e.g.
                    "tcp-flags flow-direction": a custom-format archive (default: none)
  --runs R          runs of each command, interleaved; the median is reported (default 5)
  --data DIR        where the archive lives (default ${TMPDIR:-/tmp}/flowgate-bench-<days>d-<M>mb-seed<S>);
                    reused when its stamp matches, regenerated when the stamp differs;
                    never inside the repository
  --keep            keep an archive this run generated (one that already existed is always kept)
  --no-build        use the binaries already built (default: cargo build --release first)
  --no-generate     use DIR as it is (it must hold AWSLogs/, policies/ and policies10/)
  --memory-scaling  also time a 1-day archive of the same shape and compare peak RSS
  --deliveries      also write the archive's records as Parquet and as Firehose objects (in
                    DIR-parquet and DIR-firehose) and time the check on each against the text
  --no-policy-sets  leave out issue 21's four policy sets (written afresh each run, set b by
                    this build's `suggest` from the archive's first day)
EOF
}

days=7 mb=45 seed=1 extra="" runs=5 data="" keep=0 build=1 generate=1 memscale=0 deliveries=0 sets=1
start=2026-11-01 # first day of the archive
today=2026-11-26 # waivers are judged against a fixed date, so results do not change with the calendar

while [[ $# -gt 0 ]]; do
    case $1 in
    --days) days=$2; shift 2 ;;
    --mb-per-day) mb=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --extra-fields) read -r -a words <<<"$2"; extra="${words[*]}"; shift 2 ;; # one space between
    --runs) runs=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --no-build) build=0; shift ;;
    --no-generate) generate=0; shift ;;
    --memory-scaling) memscale=1; shift ;;
    --deliveries) deliveries=1; shift ;;
    --no-policy-sets) sets=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --runs wants a positive integer" >&2; exit 2; }
[[ $days =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --days wants a positive integer" >&2; exit 2; }

die() { echo "bench.sh: $*" >&2; exit 2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[[ -x /usr/bin/time ]] && /usr/bin/time -f '%M' true >/dev/null 2>&1 ||
    die "needs GNU time at /usr/bin/time (Debian/Ubuntu: apt-get install time)"
threads=$(nproc)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/flowgate-bench-scratch.XXXXXX")
generated=() # archives this run made, removed at exit unless --keep
cleanup() {
    rm -rf "$scratch"
    if [[ $keep == 0 ]]; then
        for d in "${generated[@]}"; do rm -rf "$d"; done
    fi
}
trap cleanup EXIT

# --- build ---------------------------------------------------------------------------------------
if [[ $build == 1 ]]; then
    echo "building: cargo build --release --bin flowgate --example generate" >&2
    cargo build --release --quiet --bin flowgate --example generate
fi
target=$(cargo metadata --no-deps --format-version 1 | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
flowgate=$target/release/flowgate
generator=$target/release/examples/generate
[[ -x $flowgate ]] || die "no $flowgate: build first or drop --no-build"

# --- the archive ---------------------------------------------------------------------------------
# The stamp names everything the archive depends on, the generator's source included, so that a
# rerun reuses the archive exactly when it would generate the same bytes.
generator_sha=$(cat examples/generate.rs examples/generate/*.rs examples/generate/bench-policies/*.toml \
    policies/retail-dedicated-line.toml | sha256sum | cut -c1-16)
stamp_name=.flowgate-bench-stamp

# logs_of DIR DELIVERY: where the archive's objects are (Firehose objects sit under the year).
logs_of() {
    case $2 in
    firehose) echo "$1/${start%%-*}" ;;
    *) echo "$1/AWSLogs" ;;
    esac
}

# prepare_archive DAYS DIR [DELIVERY]: make sure DIR holds the archive for DAYS days, as gzip text
# (the default), Parquet or Firehose objects; prints progress to stderr.
prepare_archive() {
    local d=$1 dir=$2 delivery=${3:-text}
    local abs stamp
    abs=$(realpath -m "$dir")
    case "$abs/" in "$repo/"*) die "$dir is inside the repository; archives are never written there" ;; esac
    if [[ $generate == 0 ]]; then
        [[ -d $(logs_of "$dir" "$delivery") && -d $dir/policies && -d $dir/policies10 ]] ||
            die "--no-generate: $dir lacks $(basename "$(logs_of "$dir" "$delivery")")/, policies/ or policies10/"
        return
    fi
    stamp="days=$d mb-per-day=$mb seed=$seed start=$start extra-fields=[$extra] delivery=$delivery generator=$generator_sha"
    if [[ -f $dir/$stamp_name && $(cat "$dir/$stamp_name") == "$stamp" ]]; then
        echo "archive: reusing $dir ($stamp)" >&2
        return
    fi
    if [[ -e $dir ]]; then
        # Only a directory this script made (it has a stamp) is ever deleted.
        [[ -f $dir/$stamp_name ]] || die "$dir exists and is not a bench archive; pick another --data"
        echo "archive: $dir has another stamp ($(cat "$dir/$stamp_name")); regenerating" >&2
        rm -rf "$dir"
    fi
    [[ -x $generator ]] || die "no $generator: build first or drop --no-build"
    echo "archive: generating $dir ($stamp)" >&2
    rm -rf "$dir.partial"
    "$generator" bench --out "$dir.partial" --days "$d" --mb-per-day "$mb" --seed "$seed" --start "$start" \
        --extra-fields "$extra" --delivery "$delivery" >&2
    echo "$stamp" >"$dir.partial/$stamp_name"
    mv "$dir.partial" "$dir"
    generated+=("$dir")
}

default_dir() {
    local custom=""
    [[ -z $extra ]] || custom="-${extra// /+}"
    echo "${TMPDIR:-/tmp}/flowgate-bench-$1d-${mb}mb-seed$seed$custom"
}
[[ -n $data ]] || data=$(default_dir "$days")
prepare_archive "$days" "$data"
if [[ $deliveries == 1 ]]; then
    prepare_archive "$days" "$data-parquet" parquet
    prepare_archive "$days" "$data-firehose" firehose
fi

# --- issue 21's policy sets ---------------------------------------------------------------------
# Written afresh into the scratch directory: set b is what this build's `suggest` prints for the
# archive's first day, so it follows the binary being measured.
set_names=(set-a set-b set-c set-d)
declare -A set_dir=([set-a]=set-a-one [set-b]=set-b-suggested [set-c]=set-c-hosts [set-d]=set-d-drafts)
declare -A set_label=([set-a]="1 policy, 3 rules" [set-b]="10 policies by suggest" \
    [set-c]="100 single-host policies" [set-d]="100 broad drafts")
declare -A set_goal=([set-a]=1.5 [set-b]=2.0 [set-c]=2.0 [set-d]=4.0)
declare -A set_policies=([set-a]=1 [set-b]=10 [set-c]=100 [set-d]=100)
if [[ $sets == 1 ]]; then
    [[ -x $generator ]] || die "no $generator: build first or drop --no-build"
    echo "policy sets: $generator policy-sets --seed $seed --start $start --flowgate $flowgate --logs $data" >&2
    set_summary=$("$generator" policy-sets --out "$scratch/sets" --seed "$seed" --start "$start" \
        --flowgate "$flowgate" --logs "$data") || die "generate policy-sets failed"
fi

# --- the machine ---------------------------------------------------------------------------------
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || commit="$commit+dirty"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
gz_files=$(find -H "$data/AWSLogs" -name '*.gz' | wc -l)
gz_bytes=$(find -H "$data/AWSLogs" -name '*.gz' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
echo "== machine"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpu:        $cpu; nproc $threads"
echo "memory:     $mem"
echo "kernel:     $(uname -sr)"
echo "flowgate:   $("$flowgate" --version) at $commit; gzip (whole and streaming): $(grep -m1 '^flate2' Cargo.toml)"
echo "rustc:      $(rustc --version 2>/dev/null || echo unknown)"
echo "load:       $(uptime | sed 's/.*load average/load average/') (before)"
echo "archive:    $data: $gz_files files, $(awk -v b="$gz_bytes" 'BEGIN {printf "%.1f MB", b / 1e6}') gzip"
echo "format:     $(first=$(find -H "$data/AWSLogs" -name '*.gz' -print -quit); [[ -n $first ]] && zcat "$first" | head -1)"
if [[ $deliveries == 1 ]]; then
    for delivery in parquet firehose; do
        dlogs=$(logs_of "$data-$delivery" "$delivery")
        printf '%-12s%s\n' "$delivery:" "$dlogs: $(find -H "$dlogs" -type f | wc -l) files, $(find -H "$dlogs" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.1f MB", s / 1e6}')"
    done
fi
echo "runs:       $runs of each command, interleaved round-robin; medians"
if [[ $sets == 1 ]]; then
    while IFS= read -r line; do
        if [[ $line =~ ^[0-9.]+\ s$ ]]; then echo "sets:       written in $line"; else echo "sets:       ${line#"$scratch/sets/"}"; fi
    done <<<"$set_summary"
fi

# --- the commands --------------------------------------------------------------------------------
# Each command is a bash snippet run under /usr/bin/time; single commands `exec`, so the time and
# the peak RSS are flowgate's own. Exit codes a command may end with: check exits 1 on this data
# (some policies find would-be-blocked SSH); 2 would mean an untrusted run and fails the bench.
names=() labels=() snippets=() okcodes=()
add() { names+=("$1"); labels+=("$2"); okcodes+=("$3"); snippets+=("$4"); }
# index_of NAME: the slot of the command added as NAME.
index_of() {
    local i
    for i in "${!names[@]}"; do [[ ${names[$i]} == "$1" ]] && { echo "$i"; return; }; done
    die "no command named $1"
}

logs=$data/AWSLogs
q() { printf '%q' "$1"; }
# The filter users write for "accepted traffic on the retailer line outside the settlement /24",
# as string prefixes. It is right here only because both prefixes end on an octet and keep their
# trailing `\.`: `^10\.20\.3` would also drop 10.20.3.x and 10.20.31-39.x, and a /20 cannot be
# written this way at all. DuckDB below counts the same thing with integer ranges as a check.
awk_prog='($4 ~ /^10\.20\./ && $4 !~ /^10\.20\.30\./ || $5 ~ /^10\.20\./ && $5 !~ /^10\.20\.30\./) && $13 == "ACCEPT" {n++} END {print n + 0}'
# check POLICIES THREADS [LOGS]: LOGS is shell text for the snippet (default: the archive, quoted).
check() { echo "exec $(q "$flowgate") check --policies $(q "$data/$1") --logs ${3:-$(q "$logs")} --threads $2 --today $today --format json"; }
# floor THREADS [ARGS...]: the decompress-only pass; ARGS go to inspect (the ladder's rungs).
floor() { echo "exec $(q "$flowgate") inspect --logs $(q "$logs") --read-only --threads $1${2:+ ${*:2}}"; }

add floor-1 "floor: inspect --read-only, 1 thread" 0 "$(floor 1)"
add floor-n "floor: inspect --read-only, $threads threads" 0 "$(floor "$threads")"
# The cost ladder's rungs, at 1 thread (CPU work, no scheduling): issue 6's light parse (see
# `ReadDepth` in src/engine.rs) with each reader, and inspect: every field of every record read
# and validated and the coverage kept, as in the check, but nothing judged.
add light-1 "light parse, simd, 1 thread" 0 "$(floor 1 --light-parse simd)"
add lightstd-1 "light parse, std, 1 thread" 0 "$(floor 1 --light-parse std)"
add inspect-1 "inspect (every record read), 1 thread" 0 \
    "exec $(q "$flowgate") inspect --logs $(q "$logs") --threads 1"
# inspect that also gathers who the servers are (docs/server.md), as every check does: the
# server rule's cost a record, against inspect in the same run.
add servers-1 "inspect + server evidence, 1 thread" 0 \
    "exec $(q "$flowgate") inspect --logs $(q "$logs") --threads 1 --server-evidence"
# And at all threads: what the check would be measured against if its target were restated
# against a read that validates every record rather than one that parses nothing.
add inspect-n "inspect (every record read), $threads threads" 0 \
    "exec $(q "$flowgate") inspect --logs $(q "$logs") --threads $threads"
add check1-1 "check, 1 policy, 1 thread" "0 1" "$(check policies 1)"
add check1-n "check, 1 policy, $threads threads" "0 1" "$(check policies "$threads")"
add check10-1 "check, 10 policies, 1 thread" "0 1" "$(check policies10 1)"
add check10-n "check, 10 policies, $threads threads" "0 1" "$(check policies10 "$threads")"
if [[ $sets == 1 ]]; then
    # The human report, as a pipeline prints it: set d's JSON report is hundreds of MB, and
    # writing it is the report's cost, not the check's (issue 21 measures the check).
    for s in "${set_names[@]}"; do
        add "$s" "${s}: ${set_label[$s]}, $threads threads" "0 1" \
            "exec $(q "$flowgate") check --policies $(q "$scratch/sets/${set_dir[$s]}") --logs $(q "$logs") --threads $threads --today $today --format human --color never"
    done
fi
if [[ $deliveries == 1 ]]; then
    # The same records and policies, delivered as Parquet and as Firehose objects.
    for delivery in parquet firehose; do
        dlogs=$(q "$(logs_of "$data-$delivery" "$delivery")")
        add "$delivery-1" "check, 10 policies, 1 thread, $delivery" "0 1" "$(check policies10 1 "$dlogs")"
        add "$delivery-n" "check, 10 policies, $threads threads, $delivery" "0 1" \
            "$(check policies10 "$threads" "$dlogs")"
    done
    # Decompressing the Firehose objects and cutting them into lines, parsing nothing: the
    # floor of any reader of them. (Parquet has no such floor: its pages are not lines.)
    add firehose-floor "floor of firehose: inspect --read-only, 1 thread" 0 \
        "exec $(q "$flowgate") inspect --logs $(q "$(logs_of "$data-firehose" firehose)") --read-only --threads 1"
fi
# What the machine gives to $threads busy processes, for the thread speedup: the archive's files
# dealt round-robin into $threads parts, one single-threaded check per part, all at once.
# Separate processes share no memory, so what they lose against $threads x 1 thread is the
# machine's (a shared VM's cores, clock, caches), and a threaded check that keeps up with them
# loses nothing to its own parallelism.
find -H "$logs" -name '*.gz' | sort | awk -v n="$threads" -v d="$scratch" '{print > (d "/part." (NR % n))}'
one=$(check policies10 1 '"${files[@]}"')
parts="pids=(); for ((k = 0; k < $threads; k++)); do mapfile -t files < $(q "$scratch")/part.\$k;"
parts+=" ${one#exec } >/dev/null & pids+=(\$!); done; rc=0;"
parts+=" for p in \"\${pids[@]}\"; do wait \$p; c=\$?; ((c > rc)) && rc=\$c; done; exit \$rc"
add parts-n "check10: $threads procs x 1 thread, 1/$threads each" "0 1" "$parts"
add zcat-awk "zcat | awk (/16 not /24, ACCEPT)" 0 \
    "find -H $(q "$logs") -name '*.gz' -print0 | xargs -0 -r zcat | awk '$awk_prog'"

notes=()
if command -v libdeflate-gunzip >/dev/null; then
    # Whole-file libdeflate decompression to /dev/null, one process per batch of files, $threads
    # at a time: the fastest decoder beside flate2, without even splitting lines.
    add libdeflate-n "libdeflate-gunzip -c >/dev/null, $threads procs" 0 \
        "find -H $(q "$logs") -name '*.gz' -print0 | xargs -0 -r -n 64 -P $threads libdeflate-gunzip -c >/dev/null"
    # The same with one process at a time. Issue 21's table says "2 threads" for flowgate but
    # not how its floor ran; one process is the other reading, and both are printed.
    add libdeflate-1 "libdeflate-gunzip -c >/dev/null, 1 proc" 0 \
        "find -H $(q "$logs") -name '*.gz' -print0 | xargs -0 -r -n 64 -P 1 libdeflate-gunzip -c >/dev/null"
else
    notes+=("libdeflate-gunzip not installed (Debian: apt-get install libdeflate-tools): no libdeflate floor")
fi
if python3 -c 'import duckdb' 2>/dev/null; then
    add duckdb-n "duckdb read_csv, $threads threads" 0 \
        "exec python3 $(q "$repo/benches/duckdb_count.py") $(q "$logs") $threads"
else
    notes+=("duckdb not importable (pip install duckdb): no DuckDB baseline")
fi

# --- measuring -----------------------------------------------------------------------------------
declare -A times cpus rss
failed=0

# measure INDEX ROUND: one timed run; keeps stdout of the first round for the checks below.
measure() {
    local i=$1 r=$2 name=${names[$1]} code=0 t m
    /usr/bin/time -f '%e %M %U %S' -o "$scratch/time" bash -c "${snippets[$i]}" \
        >"$scratch/out.$name.$r" 2>"$scratch/err.$name" || code=$?
    if [[ " ${okcodes[$i]} " != *" $code "* ]]; then
        echo "FAILED: $name (exit $code): ${snippets[$i]}" >&2
        sed 's/^/    /' "$scratch/err.$name" | head -20 >&2
        failed=1
    fi
    # GNU time writes "Command exited with non-zero status N" before its line when code != 0.
    local u s
    read -r t m u s < <(tail -1 "$scratch/time")
    times[$name]+="$t "
    cpus[$name]+="$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}') "
    rss[$name]=$(((m > ${rss[$name]:-0}) ? m : ${rss[$name]:-0}))
}

# bench_round_robin IDX...: runs the commands at those indexes $runs times, interleaved; the
# starting command rotates each round so that none is always first after a cold one.
bench_round_robin() {
    local idx=("$@") n=$# r k
    for ((r = 1; r <= runs; r++)); do
        for ((k = 0; k < n; k++)); do
            measure "${idx[$(((k + r - 1) % n))]}" "$r"
            printf '.' >&2
        done
    done
    echo >&2
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# Warm the page cache so that every run, the first included, reads from memory.
find -H "$logs" -name '*.gz' -print0 | xargs -0 -r cat >/dev/null
if [[ $deliveries == 1 ]]; then
    for delivery in parquet firehose; do
        find -H "$(logs_of "$data-$delivery" "$delivery")" -type f -print0 | xargs -0 -r cat >/dev/null
    done
fi

echo
echo "== commands (each under /usr/bin/time -f '%e %M %U %S' bash -c '...')"
for i in "${!names[@]}"; do printf '%-12s %s\n' "${names[$i]}" "${snippets[$i]#exec }"; done
echo "measuring ${#names[@]} commands x $runs runs" >&2
bench_round_robin $(seq 0 $((${#names[@]} - 1)))

declare -A med best cpu
for name in "${names[@]}"; do
    med[$name]=$(median <<<"${times[$name]}")
    best[$name]=$(tr ' ' '\n' <<<"${times[$name]}" | grep . | sort -g | head -1)
    cpu[$name]=$(median <<<"${cpus[$name]}")
done

echo
echo "== results ($(find -H "$logs" -name '*.gz' | wc -l) files; wall seconds, median and best of $runs;"
echo "   CPU seconds (user + sys, all processes of the command), median; peak RSS, max of $runs)"
printf '%-44s %9s %7s %7s %9s   %s\n' command median-s best-s cpu-s peak-MiB "all runs (s)"
for i in "${!names[@]}"; do
    name=${names[$i]}
    printf '%-44s %9.2f %7.2f %7.2f %9.1f   %s\n' "${labels[$i]}" "${med[$name]}" "${best[$name]}" \
        "${cpu[$name]}" "$(awk -v k="${rss[$name]}" 'BEGIN {print k / 1024}')" "${times[$name]% }"
done

# --- results checks ------------------------------------------------------------------------------
records=$(grep -m1 '"records":' "$scratch/out.check10-n.1" | tr -dc 0-9)
echo
echo "== records: ${records:-?}; $(cat "$scratch/out.floor-n.1")"
for p in check1 check10; do
    if cmp -s "$scratch/out.$p-1.1" "$scratch/out.$p-n.1"; then
        echo "$p: JSON report identical at 1 and $threads threads"
    else
        echo "$p: JSON report DIFFERS between 1 and $threads threads (a bug)"
        failed=1
    fi
done
if [[ $deliveries == 1 ]]; then
    for delivery in parquet firehose; do
        # Verdicts, counts, conversations (but for their example, a place in another object)
        # and the evidence window of the text and of the same records delivered otherwise.
        if python3 - "$scratch/out.check10-n.1" "$scratch/out.$delivery-n.1" <<'PY'; then
import json, sys
def facts(path):
    r = json.load(open(path))
    policies = [(p["name"], p["status"], p["counts"],
                 [{k: v for k, v in c.items() if k != "example"} for c in p["conversations"]])
                for p in r["policies"]]
    cov = {k: v for k, v in r["run"]["coverage"].items() if k not in ("accounts", "regions")}
    return policies, cov, r["run"]["records"], r["run"]["nodata"], r["run"]["skipdata"]
sys.exit(0 if facts(sys.argv[1]) == facts(sys.argv[2]) else 1)
PY
            echo "$delivery: verdicts, counts, conversations and window identical to the text's"
        else
            echo "$delivery: the report DIFFERS from the text's (a bug)"
            failed=1
        fi
    done
fi
light=$(sed -n 's/.*light parse: //p' "$scratch/out.light-1.1")
if [[ -n $light && $light == "$(sed -n 's/.*light parse: //p' "$scratch/out.lightstd-1.1")" ]]; then
    echo "light parse: both readers counted $light"
else
    echo "light parse: the readers DISAGREE (simd: ${light:-nothing}; std: see out.lightstd-1)"
    failed=1
fi
if [[ $sets == 1 ]]; then
    # What each set's report says (round 1): policies judged, failing, and the distinct
    # would-be-blocked conversations, in all and in the policy with the most. A set whose
    # report does not name every policy is a wrong result.
    echo
    printf '%-8s %9s %8s %14s %12s\n' set policies failing conversations "most in one"
    for s in "${set_names[@]}"; do
        read -r judged failing convs most < <(awk '
            /^(PASS|FAIL|ERROR) / {n++} /^(FAIL|ERROR) / {f++}
            /^  would be blocked: [0-9]+ conversation/ {c = $4 + 0; t += c; if (c > m) m = c}
            END {print n + 0, f + 0, t + 0, m + 0}' "$scratch/out.$s.1")
        printf '%-8s %9s %8s %14s %12s\n' "$s" "$judged" "$failing" "$convs" "$most"
        if [[ $judged != "${set_policies[$s]}" ]]; then
            echo "$s: the report judged $judged policies, not ${set_policies[$s]} (a bug)"
            failed=1
        fi
    done
fi
awk_count=$(cat "$scratch/out.zcat-awk.1")
if [[ -n ${med[duckdb-n]:-} ]]; then
    duck_count=$(cat "$scratch/out.duckdb-n.1")
    [[ $awk_count == "$duck_count" ]] && agree="agree" || agree="DISAGREE"
    echo "baselines: zcat|awk counted $awk_count records, duckdb $duck_count ($agree)"
else
    echo "baselines: zcat|awk counted $awk_count records"
fi

# --- ratios --------------------------------------------------------------------------------------
div() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }
# verdict VALUE OP TARGET [STRETCH]
verdict() {
    awk -v v="$1" -v op="$2" -v t="$3" -v s="${4:-}" 'BEGIN {
        ok = (op == "<=") ? v <= t : (op == ">=") ? v >= t : v < t
        st = (s == "") ? "" : (v <= s) ? " (stretch met)" : " (stretch missed)"
        print (ok ? "PASS" : "MISS") st }'
}
row() { printf '%-44s %7s   %-8s %-26s %s\n' "$@"; }
# ratio LABEL A B [OP TARGET [STRETCH]]: median(A) / median(B), then the same ratio within each
# round: those pairs ran minutes apart at most, so their spread shows how much load drift the
# medians may hide.
ratio() {
    local label=$1 a=$2 b=$3 op=${4:-} t=${5:-} s=${6:-} r v=""
    r=$(div "${med[$a]}" "${med[$b]}")
    [[ -n $op ]] && v=$(verdict "$r" "$op" "$t" "$s")
    row "$label" "$r" "${op:-info} $t" "$v" \
        "$(awk -v a="${times[$a]}" -v b="${times[$b]}" 'BEGIN {
            n = split(a, x, " "); split(b, y, " ")
            for (i = 1; i <= n; i++) printf "%s%.2f", (i > 1 ? " " : ""), (y[i] > 0) ? x[i] / y[i] : 0 }')"
}
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
maxrss=0
for name in floor-1 floor-n light-1 lightstd-1 inspect-1 inspect-n servers-1 check1-1 check1-n check10-1 check10-n \
    parquet-1 parquet-n firehose-1 firehose-n; do
    [[ -n ${rss[$name]:-} ]] || continue
    if ((rss[$name] > maxrss)); then maxrss=${rss[$name]}; fi
done

echo
echo "== ratios (medians of this run; per round alongside)"
row ratio value target verdict "per round"
n=${threads}t
ratio "check10/$n / floor/$n" check10-n floor-n '<=' 1.3 1.15
ratio "check10/1t / floor/1t" check10-1 floor-1
if [[ -n ${med[libdeflate-n]:-} ]]; then
    ratio "check10/$n / libdeflate-gunzip/$n" check10-n libdeflate-n
    ratio "floor/$n / libdeflate-gunzip/$n" floor-n libdeflate-n
fi
ratio "check10/$n / inspect/$n" check10-n inspect-n
ratio "check10/1t / inspect/1t" check10-1 inspect-1
ratio "servers/1t / inspect/1t (the server rule)" servers-1 inspect-1
ratio "check10/$n / check1/$n" check10-n check1-n '<=' 1.15
ratio "check10/1t / check10/$n (speedup)" check10-1 check10-n '>=' 1.8
ratio "floor/1t / floor/$n (speedup)" floor-1 floor-n
# The same speedup from each command's fastest run (least disturbed by other tenants of a shared
# machine), and the CPU time the work took at 1 and at $threads threads: equal CPU time means the
# parallel pass does no extra work, so a wall-clock speedup short of $threads is lost to waiting
# (serial parts, or a core taken by something else).
row "check10 speedup, best runs" "$(div "${best[check10-1]}" "${best[check10-n]}")" "info" "" ""
row "check10 CPU s, 1t / ${n}" "$(div "${cpu[check10-1]}" "${cpu[check10-n]}")" "info" "" \
    "${cpu[check10-1]} s / ${cpu[check10-n]} s"
ratio "check10/1t / parts-n (separate procs)" check10-1 parts-n
ratio "parts-n / check10/$n" parts-n check10-n
ratio "zcat|awk / check10/$n" zcat-awk check10-n '>=' 8
if [[ -n ${med[duckdb-n]:-} ]]; then
    ratio "duckdb/$n / check10/$n" duckdb-n check10-n
    # Issue 21: DuckDB doing one policy's verdict (the retail line's, in SQL) stays at least
    # 5 x slower than flowgate checking that policy.
    ratio "duckdb/$n / check1/$n (one policy)" duckdb-n check1-n '>=' 5
fi
if [[ $deliveries == 1 ]]; then
    # Same records, so the time ratio is the ratio of cost per record.
    ratio "parquet check10/1t / text check10/1t" parquet-1 check10-1 '<=' 1.0
    ratio "parquet check10/$n / text check10/$n" parquet-n check10-n '<=' 1.0
    ratio "firehose check10/1t / text check10/1t" firehose-1 check10-1 '<=' 1.5
    ratio "firehose check10/$n / text check10/$n" firehose-n check10-n '<=' 1.5
    ratio "firehose floor/1t / text check10/1t" firehose-floor check10-1
    ratio "firehose floor/1t / text floor/1t" firehose-floor floor-1
    for name in parquet-1 firehose-1 check10-1; do
        row "CPU s $name" "${cpu[$name]}" "info" "" ""
    done
fi
row "peak RSS check10/$n, MiB" "$(mib "${rss[check10-n]}")" "< 64" "$(verdict "$(mib "${rss[check10-n]}")" '<' 64)" ""
row "peak RSS any flowgate run, MiB" "$(mib "$maxrss")" "< 64" "$(verdict "$(mib "$maxrss")" '<' 64)" ""
if [[ -n $records ]]; then
    for name in check10-n check10-1 floor-n floor-1; do
        row "records/s $name" "$(awk -v n="$records" -v t="${med[$name]}" 'BEGIN {printf "%.2fM", n / t / 1e6}')" "" "" ""
    done
fi

# --- issue 21's policy sets -----------------------------------------------------------------------
if [[ $sets == 1 ]]; then
    # The floor of issue 21's table is libdeflate's; without it, flowgate's own decompress-only
    # pass (a little slower, so the multiples come out a little lower).
    base=floor-n
    [[ -n ${med[libdeflate-n]:-} ]] && base=libdeflate-n
    echo
    if [[ $base == libdeflate-n ]]; then what="libdeflate-gunzip in $threads processes"; else what="flowgate's floor, inspect --read-only"; fi
    echo "== issue 21: policy sets at $threads threads, x issue 21's floor ($base: $what; per round alongside)"
    row ratio value target verdict "per round"
    for s in "${set_names[@]}"; do
        ratio "$s / $base" "$s" "$base" '<=' "${set_goal[$s]}"
    done
    if [[ $base != floor-n ]]; then
        for s in "${set_names[@]}"; do ratio "$s / floor-n (flowgate's floor)" "$s" floor-n; done
    fi
    if [[ -n ${med[libdeflate-1]:-} ]]; then
        # The other reading of the issue's floor: libdeflate decoding in one process, wall time.
        for s in "${set_names[@]}"; do ratio "$s / libdeflate-1 (one process)" "$s" libdeflate-1; done
    fi
    # CPU seconds (user + sys, medians): on a machine with more runnable work than cores, a
    # command's wall time is mostly waiting for a core, and its CPU time is the steadier figure.
    for s in "${set_names[@]}"; do
        row "$s / $base, CPU seconds" "$(div "${cpu[$s]}" "${cpu[$base]}")" "info" "" "${cpu[$s]} s / ${cpu[$base]} s"
    done
    for s in "${set_names[@]}"; do
        target="" verdict=""
        if [[ $s == set-d ]]; then target="< 256" verdict=$(verdict "$(mib "${rss[$s]}")" '<' 256); fi
        row "peak RSS $s, MiB" "$(mib "${rss[$s]}")" "${target:-info}" "$verdict" ""
    done
fi

# --- cost ladder ---------------------------------------------------------------------------------
# What each step beyond the floor costs a record at 1 thread, against what the 1.3 x target
# leaves for all of them together.
if [[ -n $records ]]; then
    echo
    echo "== cost ladder (1 thread; medians; ns a record above the floor, $records records)"
    printf '%-40s %9s %7s %12s\n' step median-s x-floor ns/record
    for name in floor-1 light-1 lightstd-1 inspect-1 servers-1 check1-1 check10-1; do
        printf '%-40s %9.2f %7s %12s\n' "${labels[$(index_of "$name")]}" "${med[$name]}" "$(div "${med[$name]}" "${med[floor-1]}")" \
            "$(awk -v t="${med[$name]}" -v f="${med[floor-1]}" -v n="$records" 'BEGIN {printf "%.1f", (t - f) / n * 1e9}')"
    done
    printf '%-40s %9.2f %7s %12s\n' "budget of the 1.3 x target" \
        "$(awk -v f="${med[floor-1]}" 'BEGIN {printf "%.2f", 1.3 * f}')" 1.30 \
        "$(awk -v f="${med[floor-1]}" -v n="$records" 'BEGIN {printf "%.1f", 0.3 * f / n * 1e9}')"
    # GNU time's %e has 10 ms steps, and a short run is mostly start-up.
    if awk -v f="${med[floor-1]}" 'BEGIN {exit !(f < 0.25)}'; then
        echo "note: the floor took under a quarter second; on an archive this small the rungs are noise"
    fi
fi

# --- memory scaling ------------------------------------------------------------------------------
if [[ $memscale == 1 ]]; then
    small=$(default_dir 1)
    if [[ $days == 1 ]]; then
        echo
        echo "== memory scaling: --days is already 1; nothing to compare"
    else
        prepare_archive 1 "$small"
        big_data=$data big_rss_c=${rss[check10-n]} big_rss_f=${rss[floor-n]}
        data=$small logs=$small/AWSLogs
        # Reuse the command slots with the small archive's paths.
        floor_i=$(index_of floor-n) check_i=$(index_of check10-n)
        snippets[floor_i]=$(floor "$threads")
        snippets[check_i]=$(check policies10 "$threads")
        unset 'rss[floor-n]' 'rss[check10-n]'
        echo "memory scaling: floor and check10 at $threads threads on $small" >&2
        bench_round_robin "$floor_i" "$check_i"
        echo
        echo "== memory scaling (peak RSS, MiB)"
        printf '%-28s %10s %10s %8s\n' command "1 day" "$days days" ratio
        for pair in "floor-n:$big_rss_f" "check10-n:$big_rss_c"; do
            name=${pair%%:*} big=${pair#*:}
            printf '%-28s %10.1f %10.1f %8s\n' "$name" "$(awk -v k="${rss[$name]}" 'BEGIN {print k / 1024}')" \
                "$(awk -v k="$big" 'BEGIN {print k / 1024}')" "$(div "$big" "${rss[$name]}")"
        done
        data=$big_data
    fi
fi

echo
echo "load:       $(uptime | sed 's/.*load average/load average/') (after)"
for n in "${notes[@]}"; do echo "note:       $n"; done
[[ $failed == 0 ]] || { echo "bench.sh: some command failed or gave a wrong result (see above)" >&2; exit 1; }
