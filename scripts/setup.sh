#!/usr/bin/env bash
# Installs what manifestor's demo and tests need on a fresh Debian machine (run as root):
# docker-registry, skopeo and podman from Debian (podman: the interop tests pull with it),
# and a virtualenv in .venv with manifestor in it.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (it skips what is there).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v podman >/dev/null 2>&1 || missing+=(podman)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
extras="${MANIFESTOR_EXTRAS:-}"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
