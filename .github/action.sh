#!/usr/bin/env bash
# The steps of the GitHub Action (action.yml), kept here so they can be tested outside GitHub:
#
#   action.sh version   which flowgate release to run -> `version=` in $GITHUB_OUTPUT
#   action.sh check     run `flowgate check` with the inputs; `exit-code=` and the paths of the
#                       reports written in $GITHUB_OUTPUT. Always succeeds itself: the last
#                       step of the action exits with flowgate's code, after the uploads.
#   action.sh comment   post the pull-request comment `check` wrote, or update flowgate's
#                       earlier one (found by the marker on the comment's first line).
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
REPORTS="junit:INPUT_JUNIT json:INPUT_JSON sarif:INPUT_SARIF html:INPUT_HTML"

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

  # What the pull request changes: the policies at its base commit, judged in the same pass.
  local base=${INPUT_BASE:-}
  case $base in
    none) base= ;;
    '') base=${PR_BASE_SHA:-} ;;
  esac
  if [ -n "$base" ]; then
    fetch_base "$base"
    args+=(--base "$base")
  fi
  if [ "${INPUT_COMMENT:-false}" = true ]; then
    args+=(--pr-comment "$COMMENT_FILE")
  fi

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
  if [ "${INPUT_COMMENT:-false}" = true ] && [ -f "$COMMENT_FILE" ]; then
    output comment "$COMMENT_FILE"
  fi
}

# Appends a link to the uploaded HTML report ($URL, the artifact's page) to the job summary,
# under flowgate's own summary of the check.
link_html() {
  local url=${URL:?URL is not set}
  case $url in
    https://*) ;;
    *) die "not an artifact URL: $url" ;;
  esac
  printf '\n**[HTML report](%s)**: timelines and every table, sortable and filterable (a zip with one self-contained page; it fetches nothing).\n' "$url" \
    >> "${GITHUB_STEP_SUMMARY:?GITHUB_STEP_SUMMARY is not set}"
}

# A shallow checkout (actions/checkout's default) lacks the base commit: fetch just that one,
# with the token when there is one (a private repository). If even that fails, flowgate says
# it cannot read the revision, and the run cannot be trusted (exit 2), never a silent pass.
fetch_base() {
  git cat-file -e "$1^{commit}" 2>/dev/null && return 0
  (
    # The token goes to git as configuration in the environment, never on a command line.
    if [ -n "${INPUT_TOKEN:-}" ]; then
      basic=$(printf 'x-access-token:%s' "$INPUT_TOKEN" | base64 | tr -d '\n')
      echo "::add-mask::$basic"
      export GIT_CONFIG_COUNT=1
      export GIT_CONFIG_KEY_0="http.${GITHUB_SERVER_URL:-https://github.com}/.extraheader"
      export GIT_CONFIG_VALUE_0="AUTHORIZATION: basic $basic"
    fi
    git fetch --quiet --no-tags --depth=1 origin "$1"
  ) \
    || echo "::warning title=flowgate action::cannot fetch the base commit $1"
}

# Posts the comment file as the pull request's flowgate comment: the earlier comment of the
# workflow's bot that starts with the same marker line is edited in place, so a pull request
# has one flowgate comment however often it is pushed; else a new one is added.
comment() {
  local file=${COMMENT_FILE:?COMMENT_FILE is not set}
  if [ ! -s "$file" ]; then
    echo "flowgate wrote no pull-request comment"
    return 0
  fi
  if [ -z "${PR_NUMBER:-}" ]; then
    echo "not a pull request: the comment is not posted"
    return 0
  fi
  local marker id
  marker=$(head -n 1 "$file")
  case $marker in
    '<!--'*'-->') ;;
    *) die "the comment does not start with a marker line" ;;
  esac
  local ids
  ids=$(MARKER="$marker" gh api --paginate "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" \
    --jq '.[] | select(.user.login == "github-actions[bot]") | select(.body | startswith(env.MARKER)) | .id')
  id=${ids%%$'\n'*}
  if [ -n "$id" ]; then
    gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$id" -F "body=@$file" >/dev/null
    echo "updated the flowgate comment on pull request #$PR_NUMBER"
  else
    gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" -F "body=@$file" >/dev/null
    echo "commented on pull request #$PR_NUMBER"
  fi
}

case ${1:-} in
  version) resolve_version ;;
  check) check ;;
  comment) comment ;;
  link-html) link_html ;;
  *)
    echo "usage: action.sh version|check|comment|link-html" >&2
    exit 2
    ;;
esac
