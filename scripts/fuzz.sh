#!/usr/bin/env bash
# Mutation fuzzing of every parser and of the in-process SIP stack (test/fuzz/, see its README).
#   bash scripts/fuzz.sh [--seconds 60] [--target sip-message,sdp,...] [--seed 1] [--runs N] [--hang-ms 10000]
# Exits 1 when it saved new findings under test/fuzz/findings/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx test/fuzz/cli.ts "$@"
