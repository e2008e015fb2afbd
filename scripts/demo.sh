#!/usr/bin/env bash
# The main job on a fresh machine: the whole pipeline on the example app
# (checkout, build, test, push when a registry is set, deploy) to this machine's Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."

# The dependencies when they are missing, then the build (a fresh clone has neither).
bash scripts/setup.sh

# On Debian as root the project's own script installs and starts an engine (the one the tests use).
# Elsewhere the pipeline itself says, in one line, when no engine is reachable.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -z "${DOCKER_HOST:-}" ]; then
  bash scripts/world.sh engine
fi

# The example's images are public (node:24-slim, docker.elastic.co/logstash/logstash). An engine scripts/world.sh
# made has no Docker Hub: there the images it built from this machine's files stand in, unless told otherwise.
world_image() { command -v docker >/dev/null && docker image inspect "$1" >/dev/null 2>&1; }
if [ -z "${BASE_IMAGE:-}" ] && world_image pipeline-world/node:20; then export BASE_IMAGE=pipeline-world/node:20; fi
if [ -z "${LOGSTASH_IMAGE:-}" ] && world_image 10.213.0.1:5000/logstash/logstash:7.17.0; then
  export LOGSTASH_IMAGE=10.213.0.1:5000/logstash/logstash:7.17.0
fi
cd examples/shopping-tool
exec node ../../dist/cli/index.js run --env local "$@"
