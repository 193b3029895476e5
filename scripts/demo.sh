#!/usr/bin/env bash
# The main job on a local default, from a fresh machine: start a real registry on
# loopback, push three tiny per-arch images (OCI layouts in fixtures/images, pushed with
# skopeo as a per-arch CI job would), stitch them into one multi-platform tag with
# manifestor, inspect it, and prove it complete with `skopeo copy --all`.
# KEEP=1 leaves the registry running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/registry.sh   # sets $work and $registry

export DOCKER_CONFIG="$work/docker"   # manifestor's local lists live here, as docker's would
run() { echo "+ $*"; "$@"; }

echo "== 1. per-arch images pushed by their build jobs"
for layout in linux-amd64 linux-arm64-v8 linux-arm-v7; do
  arch=${layout#linux-}
  run skopeo copy --quiet --format v2s2 --dest-tls-verify=false \
    "oci:fixtures/images/$layout" "docker://$registry/demo/app:1.0-$arch"
done

echo "== 2. stitch them into one multi-platform tag"
run .venv/bin/manifestor create "$registry/demo/app:1.0" \
  "$registry/demo/app:1.0-amd64" "$registry/demo/app:1.0-arm64-v8" "$registry/demo/app:1.0-arm-v7"
run .venv/bin/manifestor ls
run .venv/bin/manifestor push --purge "$registry/demo/app:1.0"

echo "== 3. what the registry now serves at demo/app:1.0"
run .venv/bin/manifestor inspect "$registry/demo/app:1.0"
run .venv/bin/manifestor inspect --digest "$registry/demo/app:1.0"

echo "== 4. proof: every child resolves and its config matches its platform"
run .venv/bin/manifestor verify "$registry/demo/app:1.0" --platforms linux/amd64,linux/arm64/v8,linux/arm/v7

echo "== 5. a re-run with unchanged inputs writes nothing"
run .venv/bin/manifestor push "$registry/demo/app:1.0" \
  "$registry/demo/app:1.0-amd64" "$registry/demo/app:1.0-arm64-v8" "$registry/demo/app:1.0-arm-v7"

echo "== 6. independent check: skopeo copies every platform of the list"
run skopeo copy --quiet --all --src-tls-verify=false "docker://$registry/demo/app:1.0" "dir:$work/copy"
echo "ok: demo/app:1.0 is a complete multi-platform list"
