#!/usr/bin/env bash
# Installs what manifestor's demo and tests need on a fresh Debian machine (run as root):
# docker-registry, skopeo and the docker CLI from Debian, and a virtualenv in .venv with
# manifestor in it.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (it skips what is there).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
need_docker=0
command -v docker >/dev/null 2>&1 || need_docker=1
if [ ${#missing[@]} -gt 0 ] || [ "$need_docker" = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if [ "$need_docker" = 1 ]; then
    # The docker CLI, for the tests that compare with `docker manifest` (no daemon is used).
    # Debian 13 packages the client alone; Debian 12 only with the engine (docker.io).
    if apt-cache show docker-cli >/dev/null 2>&1; then
      missing+=(docker-cli)
    else
      missing+=(docker.io)
    fi
  fi
  echo "setup: installing ${missing[*]} (apt-get)" >&2
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
extras="${MANIFESTOR_EXTRAS:-}"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
