#!/usr/bin/env bash
# Build one image for three platforms on this x86_64 host — arm64 and arm/v7 through
# QEMU — and publish it as one list with `manifestor build`, on a fresh machine: start a
# real registry on loopback, make an offline busybox base (Debian's busybox-static),
# check the host with `manifestor doctor`, build, inspect, verify, re-run ("unchanged"),
# and read back what each platform's RUN step wrote. Run as root (buildah, binfmt_misc).
# KEEP=1 leaves the registry running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/registry.sh   # sets $work and $registry

export DOCKER_CONFIG="$work/docker"
export MANIFESTOR_BUILD_STORE="$work/buildah"   # buildah's images stay out of /var/lib/containers
platforms=linux/amd64,linux/arm64/v8,linux/arm/v7
run() { echo "+ $*"; "$@"; }

echo "== 1. can this host build $platforms?"
run .venv/bin/manifestor doctor --platforms "$platforms"

echo "== 2. an offline base image: Debian's static busybox for each architecture"
mkdir -p "$work/base"
.venv/bin/python fixtures/busybox.py "$work/base" >/dev/null
cat > "$work/base/Containerfile" <<'EOF'
FROM scratch
ARG TARGETARCH
COPY rootfs-${TARGETARCH}/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
EOF
run .venv/bin/manifestor build "$registry/demo/busybox:1" "$work/base" --platforms "$platforms" --timestamp 0

echo "== 3. the application, FROM that base, with a RUN step under QEMU"
mkdir -p "$work/app"
cat > "$work/app/Containerfile" <<EOF
FROM $registry/demo/busybox:1
RUN uname -m > /arch.txt
CMD ["cat", "/arch.txt"]
EOF
run .venv/bin/manifestor build "$registry/demo/app:1.0" "$work/app" --platforms "$platforms" \
  --timestamp 0 --tag latest --annotation org.opencontainers.image.version=1.0

echo "== 4. what the registry serves, and the proof"
run .venv/bin/manifestor inspect "$registry/demo/app:1.0"
run .venv/bin/manifestor verify "$registry/demo/app:1.0" --platforms "$platforms"
echo "+ tags in demo/app (no per-arch tags):"
curl -fsS "http://$registry/v2/demo/app/tags/list"; echo

echo "== 5. the same build again: identical images, nothing written"
run .venv/bin/manifestor build "$registry/demo/app:1.0" "$work/app" --platforms "$platforms" \
  --timestamp 0 --tag latest --annotation org.opencontainers.image.version=1.0

echo "== 6. what each platform's RUN step wrote (pulled back with skopeo)"
for spec in amd64: arm64:v8 arm:v7; do
  arch=${spec%%:*} variant=${spec#*:}
  dest="$work/pull-$arch"
  skopeo copy --quiet --src-tls-verify=false --override-arch "$arch" ${variant:+--override-variant "$variant"} \
    "docker://$registry/demo/app:1.0" "dir:$dest"
  layer=$(.venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][-1]["digest"][7:])' "$dest/manifest.json")
  printf '  linux/%s%s: uname -m says %s' "$arch" "${variant:+/$variant}" "$(tar -xzOf "$dest/$layer" arch.txt)"
  echo
done
echo "ok: demo/app:1.0 holds three platforms, built here, two of them through QEMU"
