#!/usr/bin/env bash
# Sourced by the demos: start Debian's docker-registry on a free loopback port with its
# storage in a new temp directory, and stop it (and remove the directory) on exit.
# Sets $work (the temp directory) and $registry (HOST:PORT). KEEP=1 leaves it running.
work=$(mktemp -d)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
registry="127.0.0.1:${port}"
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $work/storage}
  delete: {enabled: true}
http: {addr: "$registry", secret: demo-secret}
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    echo "registry still running at http://$registry (pid $registry_pid, data in $work)"
  else
    kill "$registry_pid" 2>/dev/null || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT
for _ in $(seq 50); do
  curl -fsS "http://$registry/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
