#!/bin/sh
# Packs a built flowgate into a release archive: .github/package.sh TARGET VERSION BINARY OUT_DIR
#
# Writes OUT_DIR/flowgate-TARGET-vVERSION.tar.gz (.zip for Windows targets) holding
# flowgate-TARGET-vVERSION/flowgate (flowgate.exe) and the README, and beside it the
# archive's .sha256 in sha256sum's format. This is the layout .github/install.sh and
# cargo-binstall (Cargo.toml's [package.metadata.binstall]) read; the release workflow and
# the install test both pack with this script, so the two cannot drift apart.
set -eu

[ "$#" -eq 4 ] || {
  echo "usage: package.sh TARGET VERSION BINARY OUT_DIR" >&2
  exit 2
}
target=$1
version=${2#v}
binary=$3
out=$4
root=$(cd "$(dirname "$0")/.." && pwd)

case $target in
  *-windows-*) exe=flowgate.exe ext=zip ;;
  *) exe=flowgate ext=tar.gz ;;
esac
name=flowgate-$target-v$version
archive=$name.$ext

[ -f "$binary" ] || {
  echo "package.sh: no binary at $binary" >&2
  exit 1
}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d 2>/dev/null || mktemp -d -t flowgate-package)
trap 'rm -rf "$stage"' EXIT

mkdir "$stage/$name"
cp "$binary" "$stage/$name/$exe"
chmod 755 "$stage/$name/$exe"
cp "$root/README.md" "$stage/$name/"
rm -f "$out/$archive" "$out/$archive.sha256"
case $ext in
  tar.gz) (cd "$stage" && tar -czf "$out/$archive" "$name") ;;
  zip)
    if command -v zip >/dev/null 2>&1; then
      (cd "$stage" && zip -qr "$out/$archive" "$name")
    else
      (cd "$stage" && 7z a -tzip -bd "$out/$archive" "$name" >/dev/null)
    fi
    ;;
esac

if command -v sha256sum >/dev/null 2>&1; then
  (cd "$out" && sha256sum "$archive" >"$archive.sha256")
else
  (cd "$out" && shasum -a 256 "$archive" >"$archive.sha256")
fi
echo "$out/$archive"
