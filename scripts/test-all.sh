#!/usr/bin/env bash
# The whole test suite: Debian peers, type check, lint, unit tests, integration/end-to-end tests.
# Prints one closing line "N passed, N failed, N skipped" and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

out=$PWD/.test-runs/summary; mkdir -p "$out"; rm -f "$out"/*.json "$out"/step-*.log
failed_steps=()
step() { # step NAME CMD...: its output, then "=== NAME: ok|FAILED (seconds)"
  local name=$1 t0; shift
  t0=$(date +%s)
  echo "=== $name"
  if "$@"; then
    echo "=== $name: ok ($(($(date +%s) - t0)) s)"
  else
    echo "=== $name: FAILED ($(($(date +%s) - t0)) s)"; failed_steps+=("$name")
  fi
}
# Steps that only read the tree run side by side: on a machine busy with other work they get a
# larger share of its cores than one after another. Each one's output is kept and printed whole,
# in order, once all of them have ended.
bg_names=(); bg_pids=()
step_beside() { # step_beside NAME CMD...
  (failed_steps=(); step "$@"; exit ${#failed_steps[@]}) > "$out/step-$1.log" 2>&1 &
  bg_names+=("$1"); bg_pids+=($!)
}
join_steps() {
  local i
  for i in "${!bg_pids[@]}"; do
    wait "${bg_pids[$i]}" || failed_steps+=("${bg_names[$i]}")
    cat "$out/step-${bg_names[$i]}.log"
  done
  bg_names=(); bg_pids=()
}

# Tests keep their files under .test-runs/: none may write into ./data, the default storage.dir
# (a user's own calls may live there).
data_files() { find data -type f 2>/dev/null | sort; }
data_before=$(data_files)
untouched_data() {
  local added
  added=$(comm -13 <(echo "$data_before") <(data_files))
  if [[ -n "$added" ]]; then echo "tests wrote into ./data (use a storage.dir under .test-runs/):"; echo "$added"; return 1; fi
}

if [[ ! -d node_modules ]]; then step "npm ci" npm ci --no-audit --no-fund; fi
step_beside "install test peers" bash scripts/install-test-deps.sh
step_beside "typecheck" npx tsc -p tsconfig.json --noEmit
# `npm run lint`, its four parts beside each other.
for part in eslint format exports conflicts; do step_beside "lint:$part" npm run --silent "lint:$part"; done
step_beside "build" npm run --silent build
join_steps
# A test step writes <name>.json (vitest's report) and <name>.errors.json (the run's unhandled
# errors, which that report leaves out): the summary counts both.
vitest_step() { # vitest_step NAME CONFIG
  SIPSCRIBE_RUN_ERRORS="$out/$1.errors.json" step "$1 tests" npx vitest run --config "$2" \
    --reporter=default --reporter=json --reporter=./scripts/vitest-run-errors.mjs \
    --outputFile.json="$out/$1.json"
}
vitest_step unit vitest.config.ts
step "fuzz" bash scripts/fuzz.sh --runs 10000 --seconds 90
vitest_step integration vitest.integration.config.ts
step "tests left ./data alone" untouched_data

node scripts/summarize-tests.mjs "$out" "${failed_steps[@]}"
