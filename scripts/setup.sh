#!/usr/bin/env bash
# Installs what manifestor's demos and tests need on a fresh Debian machine (run as root):
# docker-registry, skopeo, podman (the interop tests pull with it), buildah,
# qemu-user-static, binfmt-support and the docker CLI from Debian, and a
# virtualenv in .venv with manifestor in it. As root it also mounts binfmt_misc and
# registers the QEMU handlers the build tests use (neither survives a reboot).
# Sourced by the demos and scripts/test.sh; safe to run again (it skips what is there).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
[ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || missing+=(qemu-user-static)
command -v update-binfmts >/dev/null 2>&1 || missing+=(binfmt-support)
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

# QEMU through binfmt_misc: not mounted at boot on these machines, and installing
# qemu-user-static registers nothing without systemd. update-binfmts registers Debian's
# handlers with the F flag (builds in a chroot need it); an enabled handler is left as is.
if [ "$(id -u)" = 0 ]; then
  binfmt=/proc/sys/fs/binfmt_misc
  [ -e "$binfmt/status" ] || mount -t binfmt_misc none "$binfmt"
  for handler in qemu-aarch64 qemu-arm qemu-riscv64 qemu-ppc64le qemu-s390x; do
    [ -e "$binfmt/$handler" ] || update-binfmts --enable "$handler" >/dev/null 2>&1 || \
      echo "setup: could not register $handler (update-binfmts --enable $handler)" >&2
  done
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
extras="${MANIFESTOR_EXTRAS:-}"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
