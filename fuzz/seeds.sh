#!/usr/bin/env bash
# Writes the seed corpora, fuzz/corpus/<target>/, from the repository's own policies and
# fixtures: every bundled and example policy (with their [[expect]]s) and the tests' broken
# ones (tests/cfg/expect: expectations that do not hold), fixture archives as they are, their
# header lines and first records decoded, and the smallest gzip member with a reserved
# deflate symbol (issue 27). libFuzzer adds what it finds beside them; the
# folder is not committed (fuzz/.gitignore).
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus
mkdir -p "$out"/{policy_load,format_parse,record_parse,record_cross,archive_read}

for f in policies/*.toml examples/*/*.toml examples/generate/bench-policies/*.toml \
    src/cli/init/example-policy.toml tests/cfg/*.toml tests/cfg/expect/*.toml; do
    cp "$f" "$out/policy_load/$(tr / _ <<<"$f")"
done

# A dozen fixture archives (about 1.5 KB of gzip each), whole; their text, cut short.
mapfile -t archives < <(find fixtures -name '*.gz' | sort | head -12)
i=0
for f in "${archives[@]}"; do
    cp "$f" "$out/archive_read/fixture-$i.log.gz"
    gzip -dc "$f" | head -5 >"$out/archive_read/fixture-$i.log"
    gzip -dc "$f" | head -1 >"$out/format_parse/header-$i"
    gzip -dc "$f" | head -12 >"$out/record_parse/fixture-$i"
    gzip -dc "$f" | head -12 >"$out/record_cross/fixture-$i"
    i=$((i + 1))
done
# The default format without a header line, and a custom one as a --log-format spec.
gzip -dc "${archives[0]}" | sed -n '2,12p' >"$out/record_cross/headerless"
printf '%s' '${version} ${srcaddr} ${dstaddr} ${dstport} ${protocol} ${action} ${log-status}' \
    >"$out/format_parse/spec"
# "a" and a match of 258 coded with the reserved length symbol 286, with its CRC (issue 27).
printf '\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x4b\x1c\x03\x00\x56\xfa\xc2\x34\x03\x01\x00\x00' \
    >"$out/archive_read/reserved-286.gz"
echo "seeds: $(find "$out" -type f | wc -l) files in $out"
