#!/usr/bin/env bash
# The steps of the GitHub Action (action.yml), kept here so they can be tested outside GitHub:
#
#   action.sh version   which flowgate release to run -> `version=` in $GITHUB_OUTPUT
#   action.sh check     run `flowgate check` with the inputs; `exit-code=` and the paths of the
#                       reports written in $GITHUB_OUTPUT. Always succeeds itself: the last
#                       step of the action exits with flowgate's code, after the uploads.
#
# Inputs arrive as INPUT_* environment variables (set by action.yml from `with:`).
set -euo pipefail

die() {
  echo "::error title=flowgate action::$*"
  exit 1
}

output() { # NAME VALUE
  printf '%s=%s\n' "$1" "$2" >>"${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
}

# The release to run: the `version` input; else the tag the action is used at
# (`uses: ...@v0.1.0`); else, pinned to a commit (`@<sha>`) or used from a checkout
# (`uses: ./`), the version in that commit's Cargo.toml. A branch (`@main`) names no release.
resolve_version() {
  local version=${INPUT_VERSION:-} ref=${ACTION_REF:-}
  if [ -z "$version" ]; then
    if [[ $ref =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]]; then
      version=$ref
    elif [ -z "$ref" ] || [[ $ref =~ ^[0-9a-f]{40}$ ]]; then
      local manifest=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}/Cargo.toml
      version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$manifest" | head -n 1)
      [ -n "$version" ] || die "no version in $manifest: set the action's \`version\` input"
    else
      die "the action is used at \`$ref\`, which names no flowgate release: use it at a release tag (uses: ...@v0.1.0) or a release's commit, or set the \`version\` input"
    fi
  fi
  output version "${version#v}"
}

# The reports the action can write: `flag:variable` pairs.
REPORTS="junit:INPUT_JUNIT json:INPUT_JSON sarif:INPUT_SARIF"

# Written for bash 3.2 too (macOS's /bin/bash): no mapfile, no ${x^^}, and empty arrays
# expanded as ${a[@]+"${a[@]}"}, which `set -u` accepts there.
check() {
  local -a args=(check) policies logs extra
  # Inputs are split at whitespace (spaces, tabs, line breaks) and never globbed.
  set -f
  # shellcheck disable=SC2206 # splitting is the point; globbing is off
  policies=(${INPUT_POLICIES:-}) logs=(${INPUT_LOGS:-}) extra=(${INPUT_ARGS:-})
  set +f
  [ "${#policies[@]}" -eq 0 ] || args+=(--policies "${policies[@]}")
  [ "${#logs[@]}" -eq 0 ] || args+=(--logs "${logs[@]}")

  # Each report asked for gets its directory made and its path passed on.
  local report file
  for report in $REPORTS; do
    file=${report#*:}
    file=${!file:-}
    if [ -n "$file" ]; then
      mkdir -p "$(dirname "$file")"
      args+=("--${report%%:*}" "$file")
    fi
  done
  args+=(${extra[@]+"${extra[@]}"})

  echo "flowgate ${args[*]}"
  local code=0
  flowgate "${args[@]}" || code=$?
  output exit-code "$code"
  for report in $REPORTS; do
    file=${report#*:}
    file=${!file:-}
    if [ -n "$file" ] && [ -f "$file" ]; then
      output "${report%%:*}" "$file"
    fi
  done
}

case ${1:-} in
  version) resolve_version ;;
  check) check ;;
  *)
    echo "usage: action.sh version|check" >&2
    exit 2
    ;;
esac
