#!/bin/sh
# Installs a flowgate release binary: .github/install.sh VERSION DEST_DIR
#
# Downloads flowgate-<target>-v<VERSION>.tar.gz (.zip on Windows) and its .sha256 for this
# machine's target, verifies the checksum, and puts flowgate (flowgate.exe on Windows) into
# DEST_DIR. Anything wrong (a failed download, a checksum that does not match, an archive
# without the binary, a binary that is not VERSION) fails before DEST_DIR is touched, so a
# failed install leaves nothing behind. On a platform with no release archive it builds the
# tag from source with `cargo install --locked` instead, unless FLOWGATE_NO_BUILD=1.
# When DEST_DIR already holds flowgate VERSION, nothing is downloaded (a restored cache).
#
# Environment:
#   FLOWGATE_DOWNLOAD_URL  where the release's files are [default: the GitHub release of tag
#                          v<VERSION> of FLOWGATE_REPOSITORY]; http(s):// or file://
#   FLOWGATE_REPOSITORY    flowgate's git repository [default: the one below, which is
#                          Cargo.toml's `repository`; a test keeps the two equal]
#   FLOWGATE_NO_BUILD=1    fail instead of building from source where no archive exists
#   FLOWGATE_TARGET        install this target's archive instead of the detected one
#                          (e.g. x86_64-unknown-linux-musl on a glibc system)
set -eu

DEFAULT_REPOSITORY="https://github.com/flowgate-dev/flowgate"
# The targets .github/workflows/release.yml builds; a test keeps the two lists equal.
RELEASED_TARGETS="x86_64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-gnu x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-msvc"

say() { printf 'flowgate install: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

usage() {
  cat >&2 <<'EOF'
usage: install.sh VERSION DEST_DIR
  VERSION   a flowgate release, e.g. 0.1.0 or v0.1.0
  DEST_DIR  where to put the flowgate binary (created when missing)
EOF
  exit 2
}

[ "$#" -eq 2 ] || usage
version=${1#v}
dest=$2
[ -n "$dest" ] || usage
# Only a plain semantic version: it becomes part of URLs and file names.
if ! printf '%s\n' "$version" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$'; then
  die "\`$1\` is not a version like 0.1.0"
fi

repository=${FLOWGATE_REPOSITORY:-$DEFAULT_REPOSITORY}
repository=${repository%/}
base_url=${FLOWGATE_DOWNLOAD_URL:-$repository/releases/download/v$version}
base_url=${base_url%/}

# The Rust target triple of this machine, as the release archives name it.
detect_target() {
  os=$(uname -s)
  arch=$(uname -m)
  case $arch in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
  esac
  case $os in
    Linux)
      # musl systems (Alpine) cannot run the glibc build; the musl one is static.
      if ldd --version 2>&1 | grep -qi musl || [ -e "/lib/ld-musl-$(uname -m).so.1" ]; then
        echo "$arch-unknown-linux-musl"
      else
        echo "$arch-unknown-linux-gnu"
      fi
      ;;
    Darwin)
      # An x86_64 shell under Rosetta on Apple silicon: the native build is the right one.
      if [ "$arch" = x86_64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
        arch=aarch64
      fi
      echo "$arch-apple-darwin"
      ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT) echo "$arch-pc-windows-msvc" ;;
    *) echo "$arch-unknown-$(printf '%s' "$os" | tr '[:upper:]' '[:lower:]')" ;;
  esac
}

target=${FLOWGATE_TARGET:-$(detect_target)}
case $target in
  *-windows-*) exe=flowgate.exe ext=zip ;;
  *) exe=flowgate ext=tar.gz ;;
esac

# Prints the version of the flowgate binary $1 (`flowgate 0.1.0` -> `0.1.0`), or nothing.
binary_version() {
  "$1" --version 2>/dev/null | sed -n 's/^flowgate \([^ ]*\).*$/\1/p' | head -n 1
}

if [ -f "$dest/$exe" ] && [ "$(binary_version "$dest/$exe")" = "$version" ]; then
  say "flowgate $version is already in $dest"
  exit 0
fi

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t flowgate)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Moves the verified binary $1 into DEST_DIR: copied beside its final name, then renamed, so
# DEST_DIR never holds half a binary.
install_binary() {
  got=$(binary_version "$1")
  [ "$got" = "$version" ] || die "the binary does not run as flowgate $version (it says: ${got:-nothing})"
  mkdir -p "$dest" || die "cannot create $dest"
  cp "$1" "$dest/.$exe.$$.tmp" || die "cannot write to $dest"
  chmod 755 "$dest/.$exe.$$.tmp"
  mv -f "$dest/.$exe.$$.tmp" "$dest/$exe" || die "cannot write to $dest"
  say "installed flowgate $version ($2) as $dest/$exe"
}

case " $RELEASED_TARGETS " in
  *" $target "*) ;;
  *)
    if [ "${FLOWGATE_NO_BUILD:-}" = 1 ]; then
      die "no release archive for $target (there are: $RELEASED_TARGETS), and FLOWGATE_NO_BUILD=1 forbids building from source"
    fi
    command -v cargo >/dev/null 2>&1 \
      || die "no release archive for $target, and no cargo to build it from source (install Rust from https://rustup.rs)"
    say "no release archive for $target: building v$version from source"
    cargo install --git "$repository" --tag "v$version" --locked --root "$tmp/root" flowgate \
      || die "cargo install --git $repository --tag v$version failed"
    install_binary "$tmp/root/bin/$exe" "built from source"
    exit 0
    ;;
esac

download() { # URL FILE
  case $1 in
    http://* | https://* | file://*) ;;
    *) die "FLOWGATE_DOWNLOAD_URL must start with https://, http:// or file:// (got $base_url)" ;;
  esac
  if command -v curl >/dev/null 2>&1; then
    curl --fail --silent --show-error --location --retry 3 --output "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget --quiet --output-document "$2" "$1"
  else
    die "neither curl nor wget is installed"
  fi
}

name=flowgate-$target-v$version
archive=$name.$ext
download "$base_url/$archive" "$tmp/$archive" || die "cannot download $base_url/$archive"
download "$base_url/$archive.sha256" "$tmp/$archive.sha256" || die "cannot download $base_url/$archive.sha256"

# `<64 hex digits>  <file name>`, as sha256sum writes it; the name, when given, must be ours.
line=$(head -n 1 "$tmp/$archive.sha256" | tr -d '\r')
expected=$(printf '%s\n' "$line" | sed -n 's/^\([0-9A-Fa-f]\{64\}\)\([[:space:]].*\)\{0,1\}$/\1/p')
named=$(printf '%s\n' "$line" | sed -n 's/^[0-9A-Fa-f]\{64\}[[:space:]]\{1,\}\*\{0,1\}//p')
[ -n "$expected" ] || die "$archive.sha256 does not hold a SHA-256 checksum"
[ -z "$named" ] || [ "$named" = "$archive" ] || die "$archive.sha256 is the checksum of $named, not of $archive"
if command -v sha256sum >/dev/null 2>&1; then
  check() { sha256sum -c -; }
elif command -v shasum >/dev/null 2>&1; then
  check() { shasum -a 256 -c -; }
else
  die "neither sha256sum nor shasum is installed, so the download cannot be verified"
fi
(cd "$tmp" && printf '%s  %s\n' "$expected" "$archive" | check >/dev/null 2>&1) \
  || die "checksum mismatch: $base_url/$archive is not the file its .sha256 describes; nothing was installed"

# Only the one file is extracted, so nothing else in the archive can land anywhere.
mkdir "$tmp/x"
case $ext in
  tar.gz) tar -xzf "$tmp/$archive" -C "$tmp/x" "$name/$exe" 2>/dev/null ;;
  zip)
    if command -v unzip >/dev/null 2>&1; then
      unzip -q "$tmp/$archive" "$name/$exe" -d "$tmp/x"
    elif command -v 7z >/dev/null 2>&1; then
      7z x -y -bd "-o$tmp/x" "$tmp/$archive" "$name/$exe" >/dev/null
    else
      die "neither unzip nor 7z is installed"
    fi
    ;;
esac || die "$archive holds no $name/$exe"
bin=$tmp/x/$name/$exe
if [ ! -f "$bin" ] || [ -L "$bin" ]; then
  die "$archive holds no $name/$exe"
fi
chmod 755 "$bin"
install_binary "$bin" "$target"
