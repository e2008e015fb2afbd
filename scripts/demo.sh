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

# Without Docker Hub, logstash is played by the stand-in image scripts/world.sh builds, unless told otherwise.
export LOGSTASH_IMAGE="${LOGSTASH_IMAGE:-10.213.0.1:5000/logstash/logstash:7.17.0}"
cd examples/shopping-tool
exec node ../../dist/cli/index.js run --env local "$@"
