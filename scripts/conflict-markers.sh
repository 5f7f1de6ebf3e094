#!/usr/bin/env bash
# Merge-conflict markers left in any tracked file (prettier and eslint let a Markdown table with
# them through): each is printed as file:line, and the check fails. `npm run lint` runs it.
set -uo pipefail
cd "$(dirname "$0")/.."
if git grep -nE '^(<{7}|>{7})( |$)|^={7}$' -- . ':!*.snap'; then
  echo "merge-conflict markers above: resolve them"
  exit 1
fi
exit 0
