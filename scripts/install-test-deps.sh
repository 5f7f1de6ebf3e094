#!/usr/bin/env bash
# Installs the Debian packages the test suite talks to, only those that are missing (idempotent).
# Real peers: SIPp (sip-tester), Kamailio with TLS modules, baresip, linphone's console client
# (linphone-cli); audio tools: sox, espeak-ng;
# certificates: openssl; port checks: iproute2 (ss); the PostgreSQL server (a throwaway cluster per
# test file, test/helpers/postgres.ts: initdb as the `postgres` user the package creates, or as
# ourselves when not root). Needs root (or sudo) and apt.
set -euo pipefail

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_cmd sipp || need+=(sip-tester)
have_cmd kamailio || need+=(kamailio)
have_cmd kamcmd || need+=(kamailio)
ls /usr/lib/*/kamailio/modules/tls.so >/dev/null 2>&1 || need+=(kamailio-tls-modules)
have_cmd baresip || need+=(baresip-core)
have_cmd linphonec || need+=(linphone-cli)
have_cmd sox || need+=(sox)
have_cmd espeak-ng || need+=(espeak-ng)
have_cmd openssl || need+=(openssl)
have_cmd ss || need+=(iproute2)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
have_cmd runuser || need+=(util-linux)
if [[ ${SIPSCRIBE_BROWSER_TESTS:-1} == 1 ]]; then
  have_cmd chromium || need+=(chromium)
fi

if ((${#need[@]} == 0)); then
  echo "install-test-deps: all test peers present"
  exit 0
fi
# de-duplicate
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)

sudo=()
if [[ $(id -u) != 0 ]]; then
  if have_cmd sudo && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
    echo "install-test-deps: missing Debian packages: ${need[*]}" >&2
    echo "install-test-deps: run as root: sudo bash scripts/install-test-deps.sh" >&2
    exit 1
  fi
fi
if ! have_cmd apt-get; then
  echo "install-test-deps: no apt-get here; install these packages by hand: ${need[*]}" >&2
  exit 1
fi

echo "install-test-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp -t sipscribe-apt.XXXXXX)
install() { "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >"$log" 2>&1; }
if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null || ! install; then
  "${sudo[@]}" apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  install || { tail -n 40 "$log" >&2; echo "install-test-deps: apt-get install failed" >&2; exit 1; }
fi
rm -f "$log"
echo "install-test-deps: done"
