#!/usr/bin/env bash
# baseline.sh — the documented process written by hand, as the benchmark's point of comparison: the docker CLI on the
# runner for build, test and push, then, as the documented fabfile does, host after host over OpenSSH (one connection
# per host, like Fabric's connection cache): pull the tag, leave logstash alone if it runs, stop and remove the old
# container, start the new one, and wait as the pipeline does (web: GET /health answers; worker: still running after 1 s).
#
# Usage: baseline.sh all      build, test, push, then deploy to WEB_HOSTS and WORKER_HOSTS
#        baseline.sh deploy   deploy TAG to WEB_HOSTS and WORKER_HOSTS only
# NO_WAITS=1: as the seed's fabfile did, start the new containers and go on (no health check, no settle time).
#
# Settings come from the environment (bench/run.js sets them):
#   IMAGE TAG SHA CONTEXT          image without tag, branch tag, commit (for the sha tag and label), build folder
#   REGISTRY REGISTRY_USER REGISTRY_PASSWORD   the password travels on stdin only, never in a command line
#   SSH_USER SSH_KEY KNOWN_HOSTS WEB_HOSTS WORKER_HOSTS (space-separated addresses)
#   PROJECT WEB_PORT APP_ENV LOGSTASH_IMAGE BASE_IMAGE (the Dockerfile's base image, when not its default)
#   TEST_COMMAND (default: node --test)
set -euo pipefail

DOCKER=/usr/bin/docker   # Debian's client, matching the 20.10 engines
: "${IMAGE:?}" "${TAG:?}" "${REGISTRY:?}" "${REGISTRY_USER:?}" "${REGISTRY_PASSWORD:?}"
: "${SSH_USER:?}" "${SSH_KEY:?}" "${KNOWN_HOSTS:?}" "${PROJECT:?}" "${LOGSTASH_IMAGE:?}"
WEB_PORT=${WEB_PORT:-9080}
APP_ENV=${APP_ENV:-bench}
WEB_HOSTS=${WEB_HOSTS:-}
WORKER_HOSTS=${WORKER_HOSTS:-}
NO_WAITS=${NO_WAITS:-}

# Phase durations go to stderr ("baseline: build 3120 ms"), for bench/results.json.
now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }
phase() { echo "baseline: $1 $(($(now_ms) - $2)) ms" >&2; }

build_test_push() {
  : "${SHA:?}" "${CONTEXT:?}"
  local t
  t=$(now_ms)
  "$DOCKER" build -q -t "$IMAGE:$TAG" -t "$IMAGE:$SHA" ${BASE_IMAGE:+--build-arg "BASE_IMAGE=$BASE_IMAGE"} \
    --label "org.opencontainers.image.revision=$SHA" --label "pipeline.commit=$SHA" --label "pipeline.branch=$TAG" "$CONTEXT" >/dev/null
  phase build "$t"; t=$(now_ms)
  # shellcheck disable=SC2086 # TEST_COMMAND is an argv written by the caller
  "$DOCKER" run --rm -e CI=true "$IMAGE:$SHA" ${TEST_COMMAND:-node --test}
  phase test "$t"; t=$(now_ms)
  local config
  config=$(mktemp -d)
  printf '%s' "$REGISTRY_PASSWORD" | "$DOCKER" --config "$config" login -u "$REGISTRY_USER" --password-stdin "$REGISTRY" >/dev/null 2>&1
  "$DOCKER" --config "$config" push -q "$IMAGE:$TAG" >/dev/null
  "$DOCKER" --config "$config" push -q "$IMAGE:$SHA" >/dev/null
  rm -rf "$config"
  phase push "$t"
}

# The script one SSH session runs on a host: $1 = the services of the host (web and/or worker).
host_script() {
  local services=$1 q
  q() { printf '%q' "$1"; }
  cat <<EOF
set -euo pipefail
D=/usr/bin/docker
config=\$(mktemp -d)
trap 'rm -rf "\$config"' EXIT
printf '%s' $(q "$REGISTRY_PASSWORD") | \$D --config "\$config" login -u $(q "$REGISTRY_USER") --password-stdin $(q "$REGISTRY") >/dev/null 2>&1
\$D --config "\$config" pull -q $(q "$IMAGE:$TAG") >/dev/null
# logstash is never redeployed: started only when no instance runs.
if [ "\$(\$D inspect -f '{{.State.Running}}' $PROJECT-logstash 2>/dev/null)" != true ]; then
  \$D rm -f $PROJECT-logstash >/dev/null 2>&1 || true
  \$D image inspect $(q "$LOGSTASH_IMAGE") >/dev/null 2>&1 || \$D --config "\$config" pull -q $(q "$LOGSTASH_IMAGE") >/dev/null
  \$D run -d --name $PROJECT-logstash --restart unless-stopped $(q "$LOGSTASH_IMAGE") >/dev/null
  sleep 1
  [ "\$(\$D inspect -f '{{.State.Running}}' $PROJECT-logstash)" = true ]
fi
EOF
  for service in $services; do
    cat <<EOF
\$D stop -t 5 $PROJECT-$service >/dev/null 2>&1 || true
\$D rm -f $PROJECT-$service >/dev/null 2>&1 || true
EOF
    if [[ $service == web ]]; then
      cat <<EOF
\$D run -d --name $PROJECT-web --restart unless-stopped -e APP_ENV=$(q "$APP_ENV") -p $WEB_PORT:8000 $(q "$IMAGE:$TAG") node server.js >/dev/null
EOF
      [[ -n $NO_WAITS ]] || cat <<EOF
ok=
for attempt in \$(seq 20); do
  if curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:$WEB_PORT/health; then ok=1; break; fi
  sleep 0.5
done
[ -n "\$ok" ] || { echo "web: not healthy" >&2; exit 1; }
EOF
    else
      cat <<EOF
\$D run -d --name $PROJECT-worker --restart unless-stopped -e APP_ENV=$(q "$APP_ENV") -e QUEUE=default $(q "$IMAGE:$TAG") node worker.js >/dev/null
EOF
      [[ -n $NO_WAITS ]] || cat <<EOF
sleep 1
[ "\$(\$D inspect -f '{{.State.Running}}' $PROJECT-worker)" = true ] || { echo "worker: exited" >&2; exit 1; }
EOF
    fi
  done
}

deploy_host() {   # deploy_host ADDRESS SERVICES
  host_script "$2" | ssh -F /dev/null -i "$SSH_KEY" -o IdentitiesOnly=yes -o UserKnownHostsFile="$KNOWN_HOSTS" \
    -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10 "$SSH_USER@$1" bash -s
}

deploy_one() {   # deploy_one ADDRESS: every service of the host's roles, timed
  local services= t
  [[ " $WEB_HOSTS " == *" $1 "* ]] && services+=" web"
  [[ " $WORKER_HOSTS " == *" $1 "* ]] && services+=" worker"
  t=$(now_ms)
  deploy_host "$1" "$services"
  phase "deploy:$1" "$t"
}

deploy() {
  # Host after host, as the fabfile's tasks run: each host once, with every service of its roles.
  local host
  for host in $(printf '%s\n' $WEB_HOSTS $WORKER_HOSTS | awk '!seen[$0]++'); do deploy_one "$host"; done
}

case ${1:-} in
  all) build_test_push; deploy ;;
  deploy) deploy ;;
  *) echo "usage: baseline.sh all|deploy" >&2; exit 2 ;;
esac
