#!/usr/bin/env bash
# world.sh — the integration "test world" for pipeline, built on this machine:
#
#   runner engine   dockerd on /var/run/docker.sock (insecure registry 10.213.0.1:5000)
#   bridge plw0     10.213.0.1/24 in the root network namespace
#   registry        docker-registry (distribution v2) on 10.213.0.1:5000, htpasswd auth
#   hosts h1..hN    netns plw-hI, eth0 = 10.213.0.(10+I), own dockerd + own sshd (user deploy)
#   base images     pipeline-world/busybox, pipeline-world/node:20, logstash and caddy:2 stand-ins
#   env file        /var/lib/pipeline-world/world.env (read by the tests)
#
# Usage: world.sh up | reset | engine | down [--purge] | status | env | sshd-stop hN | sshd-start hN
#        | swarm-up hN[=ROLE]... | swarm-down [hN...]
# WORLD_HOSTS=N sets the number of hosts (default 5).
#
# Everything runs without systemd: daemons are started in the background with
# setsid and tracked through pidfiles under /run/pipeline-world. No image comes
# from a registry on the internet: all of them are made from this machine's files.
set -euo pipefail
umask 022

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The caller's docker settings must not redirect our docker calls elsewhere.
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH

readonly NET=10.213.0
readonly BRIDGE=plw0
readonly BRIDGE_IP=$NET.1
readonly REGISTRY=$BRIDGE_IP:5000
readonly REGISTRY_USER=ci
readonly STATE=/var/lib/pipeline-world
readonly RUN=/run/pipeline-world
readonly LOGS=/var/log/pipeline-world
readonly ENV_FILE=$STATE/world.env
readonly SSH_DIR=$STATE/ssh
readonly SSH_KEY=$SSH_DIR/id_ed25519
readonly KNOWN_HOSTS=$SSH_DIR/known_hosts
readonly REG_DIR=$STATE/registry
readonly DEPLOY_USER=deploy
readonly DEPLOY_HOME=/home/deploy
# Debian's client matches the 20.10 engine; a newer one may come first in PATH.
readonly DOCKER=/usr/bin/docker
readonly RUNNER_SOCK=/var/run/docker.sock
readonly BUSYBOX_IMAGE=pipeline-world/busybox:latest
readonly NODE_IMAGE=pipeline-world/node:20
readonly LOGSTASH_IMAGE=$REGISTRY/logstash/logstash:7.17.0
readonly CADDY_IMAGE=$REGISTRY/caddy:2
readonly MAX_HOSTS=50

HOSTS=${WORLD_HOSTS:-5}
[[ $HOSTS =~ ^[0-9]+$ ]] && ((HOSTS >= 1 && HOSTS <= MAX_HOSTS)) \
  || { echo "world: error: WORLD_HOSTS must be a number from 1 to $MAX_HOSTS (got '$HOSTS')" >&2; exit 1; }

# ---------------------------------------------------------------- helpers

log() { printf 'world: %s\n' "$*" >&2; }
die() { printf 'world: error: %s\n' "$*" >&2; exit 1; }

CLEANUP=()
cleanup() { local p; for p in "${CLEANUP[@]}"; do rm -rf -- "$p"; done; }
trap cleanup EXIT

rdocker() { "$DOCKER" -H "unix://$RUNNER_SOCK" "$@"; }

host_ip() { echo "$NET.$((10 + $1))"; }
host_ns() { echo "plw-h$1"; }
host_sock() { echo "$RUN/h$1/docker.sock"; }

# Wait up to $1 seconds for a command to succeed.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# Is this pid a live (non-zombie) process whose executable is named $2?
pid_is() {
  local pid=$1 name=$2 exe state bin
  [[ $pid =~ ^[0-9]+$ && -e /proc/$pid ]] || return 1
  bin=$(type -P "$name" 2>/dev/null) || bin=
  # -ef needs no fork; readlink also recognises a binary replaced by an upgrade.
  if ! [[ -n $bin && /proc/$pid/exe -ef $bin ]]; then
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    exe=${exe% (deleted)}
    [[ ${exe##*/} == "$name" ]] || return 1
  fi
  state=$(<"/proc/$pid/stat") 2>/dev/null || return 1
  state=${state##*) }
  [[ ${state%% *} != Z ]]
}

# Pid of a daemon: from its pidfile, else (pidfile lost) by a unique string of
# its command line. Prints nothing when it is not running; removes dead pidfiles.
daemon_pid() {
  local pidfile=$1 name=$2 needle=$3 pid f
  if [[ -f $pidfile ]]; then
    pid=$(<"$pidfile") || pid=
    pid=${pid//[^0-9]/}
    if pid_is "$pid" "$name"; then echo "$pid"; return 0; fi
    rm -f "$pidfile"
  fi
  [[ -n $needle ]] || return 0
  for f in $(grep -l -z -F -e "$needle" /proc/[0-9]*/cmdline 2>/dev/null); do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    if pid_is "$pid" "$name"; then echo "$pid"; return 0; fi
  done
}

# SIGTERM, wait, then SIGKILL.
stop_pid() {
  local pid=$1 name=$2 timeout=${3:-20}
  pid_is "$pid" "$name" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_for "$timeout" eval "! pid_is $pid $name"; then
    log "$name (pid $pid) ignored SIGTERM for ${timeout}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_for 5 eval "! pid_is $pid $name" || true
  fi
}

# Close every descriptor above stderr: a daemon must not keep open what its
# starter had (fd 9, our lock, or a caller's own lock such as flock(1)'s), or
# that lock would be held for as long as the daemon runs.
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
  done
  return 0
}

# Start a daemon detached from this script: own session, no stdin, output to
# its log, no descriptor of ours. Sets SPAWNED to its pid (the subshell execs
# setsid, which does not fork here: it is no group leader).
SPAWNED=
spawn() {
  local logfile=$1; shift
  (close_inherited_fds; exec setsid "$@" </dev/null >>"$logfile" 2>&1) &
  SPAWNED=$!
}

# Shell run inside a fresh private mount namespace before exec'ing a host's
# daemon: it gets the host's own /home/deploy, drops the copies of netns files and
# container root filesystems it inherited (else it would pin them), and with
# HIDE_CONTAINERD=1 hides a system containerd so that dockerd supervises its own.
# shellcheck disable=SC2016
readonly NS_PRELUDE='
set -e
for m in $(findmnt -rn -o TARGET -t nsfs,overlay | sort -r); do umount -l "$m" 2>/dev/null || true; done
mount --bind "$1" '"$DEPLOY_HOME"'
if [ "${HIDE_CONTAINERD:-}" = 1 ]; then
  mkdir -p /run/containerd && mount -t tmpfs -o mode=0711 pipeline-world /run/containerd
fi
shift
exec "$@"'

with_lock() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock -w 600 9 || die "another world.sh holds $STATE/.lock for more than 10 minutes"
}

# ---------------------------------------------------------------- packages

# "command:debian-package" pairs per mode.
ENGINE_NEEDS=(dockerd:docker.io containerd:containerd runc:runc /usr/bin/docker:docker.io
  busybox:busybox-static curl:curl nsenter:util-linux setsid:util-linux flock:util-linux
  iptables:iptables /usr/bin/caddy:caddy)
UP_NEEDS=("${ENGINE_NEEDS[@]}" docker-registry:docker-registry /usr/sbin/sshd:openssh-server
  ssh:openssh-client ssh-keygen:openssh-client htpasswd:apache2-utils ip:iproute2
  unshare:util-linux findmnt:util-linux)

missing_packages() {
  local pair cmd pkg bb
  local -A seen=()
  for pair in "$@"; do
    cmd=${pair%%:*} pkg=${pair#*:}
    if [[ $cmd == busybox ]]; then
      # The images need a static busybox; Debian's "busybox" package is dynamic.
      bb=$(command -v busybox 2>/dev/null) && ! ldd "$bb" >/dev/null 2>&1 && continue
    elif command -v "$cmd" >/dev/null 2>&1; then
      continue
    fi
    [[ -n ${seen[$pkg]:-} ]] || { seen[$pkg]=1; printf '%s ' "$pkg"; }
  done
}

ensure_packages() {
  local missing
  missing=$(missing_packages "$@")
  [[ -z $missing ]] && return 0
  if ((EUID != 0)) || ! command -v apt-get >/dev/null 2>&1; then
    die "missing packages: ${missing% } — install them (Debian: apt-get install -y ${missing% }) and run world.sh as root"
  fi
  log "installing ${missing% } (apt-get)"
  mkdir -p "$LOGS"
  # Without systemd, package scripts would start the daemons with their default
  # configs (e.g. dockerd without our insecure registry): forbid that.
  local policy=/usr/sbin/policy-rc.d created=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created=1
  fi
  local rc=0 pkgs
  read -ra pkgs <<<"$missing"
  {
    apt-get update -qq >"$LOGS/apt.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" >>"$LOGS/apt.log" 2>&1
  } || rc=$?
  [[ -n $created ]] && rm -f "$policy"
  ((rc == 0)) || die "apt-get install ${missing% } failed; see $LOGS/apt.log"
  missing=$(missing_packages "$@")
  [[ -z $missing ]] || die "still missing after apt-get install: ${missing% }; see $LOGS/apt.log"
}

# The node image is made from this machine's node (Node 20 is what the tool needs).
require_node() {
  command -v node >/dev/null 2>&1 \
    || die "node not found: install Node.js 20 (the image $NODE_IMAGE is made from this machine's node binary)"
}

require_root() {
  ((EUID == 0)) || die "world.sh must run as root (it manages network namespaces and daemons)"
}

# ---------------------------------------------------------------- users, keys

ensure_users() {
  getent group docker >/dev/null || groupadd --system docker
  if ! id -u "$DEPLOY_USER" >/dev/null 2>&1; then
    useradd -m -d "$DEPLOY_HOME" -s /bin/bash -G docker "$DEPLOY_USER"
  fi
  id -nG "$DEPLOY_USER" | tr ' ' '\n' | grep -qx docker || usermod -aG docker "$DEPLOY_USER"
  # useradd leaves the account locked ("!"), which sshd refuses even for keys.
  [[ $(getent shadow "$DEPLOY_USER" | cut -d: -f2) == '*' ]] || usermod -p '*' "$DEPLOY_USER"
  mkdir -p "$DEPLOY_HOME"   # mount point for the per-host homes
}

ensure_runner_key() {
  mkdir -p "$SSH_DIR" && chmod 700 "$SSH_DIR"
  if [[ ! -s $SSH_KEY || ! -s $SSH_KEY.pub ]]; then
    rm -f "$SSH_KEY" "$SSH_KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C pipeline-world-runner -f "$SSH_KEY"
    log "runner ssh key: generated $SSH_KEY"
  fi
}

# ---------------------------------------------------------------- bridge

ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    log "bridge $BRIDGE: created"
  fi
  ip -4 -o addr show dev "$BRIDGE" | grep -q " $BRIDGE_IP/24 " || ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # With br_netfilter loaded, frames bridged between hosts cross the root FORWARD
  # chain, whose policy the runner dockerd sets to DROP: let host<->host through.
  iptables -w -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null \
    || iptables -w -I FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
}

# ---------------------------------------------------------------- runner engine

runner_ping() { curl -sf --max-time 3 --unix-socket "$RUNNER_SOCK" http://docker/_ping >/dev/null 2>&1; }

runner_has_insecure_registry() {
  rdocker info --format '{{json .RegistryConfig}}' 2>/dev/null | grep -qE "\"$REGISTRY\"|\"$NET\.0/(2[4-9]|3[0-2]|1[0-9]|[0-9])\""
}

ensure_runner() {   # $1 = strict (up) | lax (engine)
  local mode=$1 pid owned
  owned=$(daemon_pid "$RUN/runner-dockerd.pid" dockerd "")
  if runner_ping; then
    if ! runner_has_insecure_registry; then
      if [[ -n $owned ]]; then
        log "runner engine: restarting it with --insecure-registry $REGISTRY"
        stop_pid "$owned" dockerd 60
      elif [[ $mode == strict ]]; then
        die "the engine on $RUNNER_SOCK (not started by world.sh) does not trust $REGISTRY: add {\"insecure-registries\": [\"$REGISTRY\"]} to /etc/docker/daemon.json and restart it"
      else
        log "warning: the engine on $RUNNER_SOCK does not trust $REGISTRY over plain HTTP (add it to insecure-registries in /etc/docker/daemon.json)"
        return 0
      fi
    else
      return 0
    fi
  fi

  mkdir -p "$RUN"
  pid=$(daemon_pid /var/run/docker.pid dockerd "")
  if [[ -n $pid ]]; then
    # Alive but not answering: give a starting dockerd some time.
    wait_for 60 runner_ping || die "dockerd (pid $pid) runs but $RUNNER_SOCK does not answer after 60s; see $LOGS/runner-dockerd.log"
    return 0
  fi
  # A stale containerd pidfile whose pid was reused would make dockerd wait for
  # a containerd that is not there. (A live orphan containerd is reused.)
  daemon_pid /var/run/docker/containerd/containerd.pid containerd "" >/dev/null

  local args=(--insecure-registry "$REGISTRY")
  # dockerd refuses a flag that daemon.json also sets.
  if [[ -f /etc/docker/daemon.json ]] && grep -q '"insecure-registries"' /etc/docker/daemon.json; then
    args=()
  fi
  log "runner engine: starting dockerd (log: $LOGS/runner-dockerd.log)"
  spawn "$LOGS/runner-dockerd.log" dockerd "${args[@]}"
  echo "$SPAWNED" >"$RUN/runner-dockerd.pid"
  wait_for 60 runner_ping || die "runner dockerd did not answer on $RUNNER_SOCK within 60s; see $LOGS/runner-dockerd.log"
  rdocker info >/dev/null 2>&1 || die "docker info fails on $RUNNER_SOCK; see $LOGS/runner-dockerd.log"
  if [[ $mode == strict ]] && ! runner_has_insecure_registry; then
    die "the runner engine does not trust $REGISTRY: add it to insecure-registries in /etc/docker/daemon.json"
  fi
}

# ---------------------------------------------------------------- registry

registry_password() { cat "$REG_DIR/password"; }

registry_answers() {
  [[ $(curl -s -o /dev/null --max-time 3 -w '%{http_code}' "http://$REGISTRY/v2/" 2>/dev/null) == 401 ]]
}

random_token() {
  local t
  t=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  echo "${t:0:32}"
}

ensure_registry() {
  mkdir -p "$REG_DIR/data"
  chmod 700 "$REG_DIR"
  [[ -s $REG_DIR/password ]] || (umask 077 && random_token >"$REG_DIR/password")
  [[ -s $REG_DIR/http-secret ]] || (umask 077 && random_token >"$REG_DIR/http-secret")
  local pw changed=
  pw=$(registry_password)
  if ! htpasswd -vb "$REG_DIR/htpasswd" "$REGISTRY_USER" "$pw" >/dev/null 2>&1; then
    (umask 077 && htpasswd -Bbn "$REGISTRY_USER" "$pw" | sed '/^$/d' >"$REG_DIR/htpasswd")
    changed=1
  fi
  local cfg=$REG_DIR/config.yml new
  new=$(cat <<EOF
# written by scripts/world.sh
version: 0.1
log:
  level: info
  fields:
    service: pipeline-world-registry
storage:
  filesystem:
    rootdirectory: $REG_DIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REGISTRY
  secret: $(<"$REG_DIR/http-secret")
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: pipeline-world
    path: $REG_DIR/htpasswd
EOF
)
  if [[ ! -f $cfg || $(<"$cfg") != "$new" ]]; then
    (umask 077 && printf '%s\n' "$new" >"$cfg")
    changed=1
  fi

  local pid
  pid=$(daemon_pid "$RUN/registry.pid" docker-registry "$cfg")
  if [[ -n $pid && -z $changed ]] && registry_answers; then
    echo "$pid" >"$RUN/registry.pid"
    return 0
  fi
  [[ -n $pid ]] && stop_pid "$pid" docker-registry 10
  if registry_answers || curl -s -o /dev/null --max-time 2 "http://$REGISTRY/" 2>/dev/null; then
    die "something else already listens on $REGISTRY; stop it first"
  fi
  log "registry: starting on $REGISTRY (log: $LOGS/registry.log)"
  spawn "$LOGS/registry.log" docker-registry serve "$cfg"
  echo "$SPAWNED" >"$RUN/registry.pid"
  wait_for 30 registry_answers || die "registry did not answer 401 on http://$REGISTRY/v2/ within 30s; see $LOGS/registry.log"
}

# ---------------------------------------------------------------- hosts

# The veth is right when eth0 inside the netns is the peer of plw-hI-br.
veth_ok() {
  local i=$1 ns br idx peer
  ns=$(host_ns "$i") br=$(host_ns "$i")-br
  idx=$(cat "/sys/class/net/$br/ifindex" 2>/dev/null) || return 1
  peer=$(ip -n "$ns" -o link show eth0 2>/dev/null) || return 1
  [[ $peer =~ eth0@if([0-9]+): ]] && [[ ${BASH_REMATCH[1]} == "$idx" ]]
}

ensure_host_net() {
  local i=$1 ns br ip
  ns=$(host_ns "$i") br=$(host_ns "$i")-br ip=$(host_ip "$i")
  # A netns file that is no longer a live nsfs mount is a leftover: drop it.
  if [[ -e /run/netns/$ns ]] && ! nsenter --net="/run/netns/$ns" true 2>/dev/null; then
    ip netns delete "$ns" 2>/dev/null || rm -f "/run/netns/$ns"
  fi
  if [[ ! -e /run/netns/$ns ]]; then
    ip netns add "$ns"
    log "h$i: netns $ns created"
  fi
  if ! veth_ok "$i"; then
    ip link del "$br" 2>/dev/null || true
    ip -n "$ns" link del eth0 2>/dev/null || true
    ip link add "$br" type veth peer name eth0 netns "$ns"
  elif [[ /sys/class/net/$br/master -ef /sys/class/net/$BRIDGE && $(<"/sys/class/net/$br/operstate") == up ]] \
    && [[ $(ip -n "$ns" -4 -o addr show dev eth0 up 2>/dev/null) == *" $ip/24 "* ]] \
    && [[ $(ip -n "$ns" route show default 2>/dev/null) == "default via $BRIDGE_IP dev eth0"* ]]; then
    return 0   # already wired
  fi
  ip link set "$br" master "$BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" addr replace "$ip/24" dev eth0
  ip -n "$ns" route replace default via "$BRIDGE_IP" dev eth0
  # A new eth0 has a new MAC: forget the old one, else the root namespace keeps
  # probing the dead MAC for several seconds before it asks again.
  ip neigh flush to "$ip" dev "$BRIDGE" 2>/dev/null || true
}

# Is the process inside the host's network namespace (and not an older one)?
in_host_ns() {
  [[ /proc/$1/ns/net -ef /run/netns/plw-h$2 ]]   # same nsfs inode
}

host_dockerd_ping() { curl -sf --max-time 3 --unix-socket "$(host_sock "$1")" http://docker/_ping >/dev/null 2>&1; }

# Processes a dead host dockerd leaves behind: its containerd, the shims and
# the containers (found through the host's own cgroup parent).
kill_host_leftovers() {
  local i=$1 f pid exe
  for f in $(grep -l -z -F -e "$RUN/h$i/exec/containerd/" /proc/[0-9]*/cmdline 2>/dev/null); do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
    case ${exe##*/} in containerd | containerd-shim*) kill -KILL "$pid" 2>/dev/null || true ;; esac
  done
  for f in /sys/fs/cgroup/*/pipeline-world/h"$i"/*/cgroup.procs /sys/fs/cgroup/pipeline-world/h"$i"/*/cgroup.procs; do
    [[ -f $f ]] || continue
    while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$f"
  done
  rm -f "$RUN/h$i/exec/containerd/containerd.pid"
}

host_dockerd_pid() {
  daemon_pid "$RUN/h$1/docker.pid" dockerd "--pidfile=$RUN/h$1/docker.pid"
}

# Starts the host's dockerd if needed (does not wait: see wait_host_dockerd).
start_host_dockerd() {
  local i=$1 d=$STATE/h$1 r=$RUN/h$1 pid ns
  ns=/run/netns/$(host_ns "$i")
  mkdir -p "$d/docker" "$d/home" "$r/exec"
  pid=$(host_dockerd_pid "$i")
  if [[ -n $pid ]]; then
    in_host_ns "$pid" "$i" && return 0
    log "h$i: dockerd (pid $pid) runs in a stale netns; restarting it"
    stop_pid "$pid" dockerd 30
  fi
  kill_host_leftovers "$i"
  rm -f "$r/docker.pid" "$r/docker.sock"
  # An empty config file: /etc/docker/daemon.json belongs to the runner engine.
  [[ -f $d/daemon.json ]] || echo '{}' >"$d/daemon.json"
  log "h$i: starting dockerd (log: $LOGS/h$i-dockerd.log)"
  # nsenter --net, not "ip netns exec": the latter remounts /sys and hides the
  # cgroup mounts ("Devices cgroup isn't mounted"). The private mount namespace
  # gives the host its own /home/deploy, as sshd sees it.
  spawn "$LOGS/h$i-dockerd.log" env HIDE_CONTAINERD=1 \
    nsenter --net="$ns" unshare -m --propagation private sh -c "$NS_PRELUDE" sh "$d/home" \
    dockerd --host "unix://$r/docker.sock" --data-root "$d/docker" --exec-root "$r/exec" \
    --pidfile="$r/docker.pid" --insecure-registry "$REGISTRY" --group docker \
    --config-file "$d/daemon.json" --cgroup-parent "/pipeline-world/h$i"
}

wait_host_dockerd() {
  local i=$1
  wait_for 60 host_dockerd_ping "$i" \
    || die "h$i: dockerd did not answer on $(host_sock "$i") within 60s; see $LOGS/h$i-dockerd.log"
}

write_sshd_config() {
  local i=$1 d=$STATE/h$1 ip new
  ip=$(host_ip "$i")
  new=$(cat <<EOF
# h$i of the pipeline test world (written by scripts/world.sh)
ListenAddress $ip:22
HostKey $d/ssh_host_ed25519_key
PidFile $RUN/h$i/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
StrictModes no
PermitRootLogin no
AllowUsers $DEPLOY_USER
LogLevel INFO
PrintMotd no
X11Forwarding no
SetEnv DOCKER_HOST=unix://$RUN/h$i/docker.sock
Subsystem sftp internal-sftp
EOF
)
  if [[ ! -f $d/sshd_config || $(<"$d/sshd_config") != "$new" ]]; then
    printf '%s\n' "$new" >"$d/sshd_config"
    return 1   # changed
  fi
}

ensure_host_home() {
  local i=$1 h=$STATE/h$1/home
  if [[ ! -d $h/.ssh ]]; then
    mkdir -p "$h/.ssh"
    cp -rT /etc/skel "$h" 2>/dev/null || true
    chown -R "$DEPLOY_USER:$DEPLOY_USER" "$h"
  fi
  if [[ ! -f $h/.ssh/authorized_keys ]] || ! cmp -s "$SSH_KEY.pub" "$h/.ssh/authorized_keys"; then
    cp "$SSH_KEY.pub" "$h/.ssh/authorized_keys"
  fi
  chown "$DEPLOY_USER:$DEPLOY_USER" "$h" "$h/.ssh" "$h/.ssh/authorized_keys"
  chmod 750 "$h"; chmod 700 "$h/.ssh"; chmod 600 "$h/.ssh/authorized_keys"
}

sshd_banner() {   # does something speak SSH on host $1:22?
  local line
  line=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/22" && IFS= read -r -t 2 l <&3 && echo "$l"' "$(host_ip "$1")" 2>/dev/null) || return 1
  [[ $line == SSH-* ]]
}

host_sshd_pid() { daemon_pid "$RUN/h$1/sshd.pid" sshd "$STATE/h$1/sshd_config"; }

ensure_host_sshd() {
  local i=$1 d=$STATE/h$1 changed='' pid ns
  ns=/run/netns/$(host_ns "$i")
  mkdir -p "$d" "$RUN/h$i"
  if [[ ! -s $d/ssh_host_ed25519_key || ! -s $d/ssh_host_ed25519_key.pub ]]; then
    rm -f "$d/ssh_host_ed25519_key" "$d/ssh_host_ed25519_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "pipeline-world-h$i" -f "$d/ssh_host_ed25519_key"
  fi
  ensure_host_home "$i"
  write_sshd_config "$i" || changed=1
  pid=$(host_sshd_pid "$i")
  if [[ -n $pid && -z $changed ]] && in_host_ns "$pid" "$i" && sshd_banner "$i"; then
    return 0
  fi
  [[ -n $pid ]] && stop_pid "$pid" sshd 10
  rm -f "$RUN/h$i/sshd.pid"
  mkdir -p /run/sshd && chmod 755 /run/sshd   # privilege separation dir
  /usr/sbin/sshd -t -f "$d/sshd_config" 2>>"$LOGS/h$i-sshd.log" \
    || die "h$i: sshd rejects $d/sshd_config; see $LOGS/h$i-sshd.log"
  log "h$i: starting sshd on $(host_ip "$i"):22 (log: $LOGS/h$i-sshd.log)"
  # sshd daemonizes: its private mount namespace (with the host's own home
  # bind-mounted over /home/deploy) lives as long as it does.
  (close_inherited_fds; exec nsenter --net="$ns" unshare -m --propagation private sh -c "$NS_PRELUDE" sh "$d/home" \
    /usr/sbin/sshd -f "$d/sshd_config" -E "$LOGS/h$i-sshd.log" </dev/null >>"$LOGS/h$i-sshd.log" 2>&1) \
    || die "h$i: sshd failed to start; see $LOGS/h$i-sshd.log"
  wait_for 15 sshd_banner "$i" || die "h$i: sshd does not answer on $(host_ip "$i"):22; see $LOGS/h$i-sshd.log"
}

stop_host_sshd() {
  local i=$1 pid
  pid=$(host_sshd_pid "$i")
  [[ -n $pid ]] && stop_pid "$pid" sshd 10
  rm -f "$RUN/h$i/sshd.pid"
}

stop_host_dockerd() {
  local i=$1 pid sock
  sock=$(host_sock "$i")
  pid=$(host_dockerd_pid "$i")
  if [[ -n $pid ]]; then
    # Kill the containers first: dockerd would give each one 10s to stop.
    if host_dockerd_ping "$i"; then
      "$DOCKER" -H "unix://$sock" ps -q 2>/dev/null | xargs -r "$DOCKER" -H "unix://$sock" kill >/dev/null 2>&1 || true
    fi
    stop_pid "$pid" dockerd 30
  fi
  kill_host_leftovers "$i"
  rm -f "$RUN/h$i/docker.pid" "$sock"
}

# Take a host away completely (daemons, netns, veth); its data dir stays.
teardown_host() {
  local i=$1
  stop_host_sshd "$i"
  stop_host_dockerd "$i"
  ip link del "$(host_ns "$i")-br" 2>/dev/null || true
  ip netns delete "$(host_ns "$i")" 2>/dev/null || rm -f "/run/netns/$(host_ns "$i")"
  rm -rf "${RUN:?}/h$i"
}

# Host numbers that have any trace on this machine (netns, veth, run dir).
existing_hosts() {
  {
    ip netns list 2>/dev/null | awk '{print $1}' | sed -n 's/^plw-h\([0-9][0-9]*\)$/\1/p'
    ip -o link show type veth 2>/dev/null | sed -n 's/^[0-9]*: plw-h\([0-9][0-9]*\)-br[@:].*/\1/p'
    for f in "$RUN"/h*; do [[ -d $f ]] && echo "${f##*/h}"; done
  } | grep -E '^[0-9]+$' | sort -nu || true
}

write_known_hosts() {
  local i new=
  for ((i = 1; i <= HOSTS; i++)); do
    new+="$(host_ip "$i") $(cut -d' ' -f1,2 "$STATE/h$i/ssh_host_ed25519_key.pub")"$'\n'
  done
  if [[ ! -f $KNOWN_HOSTS || $(<"$KNOWN_HOSTS")$'\n' != "$new" ]]; then
    printf '%s' "$new" >"$KNOWN_HOSTS.tmp" && mv "$KNOWN_HOSTS.tmp" "$KNOWN_HOSTS"
  fi
}

ssh_host() {   # ssh_host I COMMAND — as the tool does it: key + known_hosts, strict
  ssh -F /dev/null -i "$SSH_KEY" -o IdentitiesOnly=yes -o UserKnownHostsFile="$KNOWN_HOSTS" \
    -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 \
    "$DEPLOY_USER@$(host_ip "$1")" "$2"
}

# End-to-end check of every host, in parallel: ssh as deploy, docker over the socket.
check_hosts_over_ssh() {
  local i dir failed=
  dir=$(mktemp -d); CLEANUP+=("$dir")
  local pids=()
  for ((i = 1; i <= HOSTS; i++)); do
    ssh_host "$i" "docker version --format '{{.Server.Version}}'" >"$dir/$i" 2>&1 &
    pids+=($!)
  done
  # Wait for these only: a bare "wait" would also wait for the daemons we spawned.
  wait "${pids[@]}" || true
  for ((i = 1; i <= HOSTS; i++)); do
    grep -qE '^[0-9]+\.[0-9]+' "$dir/$i" || { failed+=" h$i"; log "h$i: ssh + docker check said: $(tr '\n' ' ' <"$dir/$i")"; }
  done
  [[ -z $failed ]] || die "ssh deploy@host docker version failed on:$failed; see $LOGS/h*-sshd.log and $LOGS/h*-dockerd.log"
}

ensure_hosts() {
  local i
  for i in $(existing_hosts); do
    if ((i > HOSTS)); then
      log "h$i: removing it (WORLD_HOSTS=$HOSTS)"
      teardown_host "$i"
    fi
  done
  # Sequential: parallel "ip netns add" calls race to set up /run/netns.
  for ((i = 1; i <= HOSTS; i++)); do ensure_host_net "$i"; done
  # The daemons of the hosts are independent: check/start them in parallel.
  local pids=() failed=''
  for ((i = 1; i <= HOSTS; i++)); do
    # (not "a && b": errexit would be off inside the functions)
    (start_host_dockerd "$i"; ensure_host_sshd "$i"; wait_host_dockerd "$i") &
    pids+=($!)
  done
  for ((i = 1; i <= HOSTS; i++)); do wait "${pids[i - 1]}" || failed+=" h$i"; done
  [[ -z $failed ]] || die "setting up host(s)$failed failed (see the messages above)"
  write_known_hosts
}

# ---------------------------------------------------------------- images

busybox_bin() { readlink -f "$(command -v busybox)"; }
node_bin() { readlink -f "$(command -v node)"; }

node_libs() {   # the node binary's libraries, loader included, as absolute paths
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u
}

# An identity of the files an image is made from, stored as a label: the image
# is rebuilt when busybox, node or a library changes.
files_id() { stat -L -c '%n:%s:%Y' "$@" | md5sum | cut -c1-16; }

image_label() { rdocker image inspect --format "{{index .Config.Labels \"pipeline-world.source\"}}" "$1" 2>/dev/null || true; }

make_busybox_rootfs() {
  local root=$1 bb applet
  bb=$(busybox_bin)
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/tmp,proc,sys,dev,home}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 700 "$root/root"
  cp "$bb" "$root/bin/busybox"
  for applet in $("$bb" --list-full); do
    [[ -e $root/$applet || -L $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
  done
  [[ -e $root/bin/sh ]] || ln -s /bin/busybox "$root/bin/sh"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root/etc/group"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  : >"$root/etc/resolv.conf"
  : >"$root/etc/hostname"
}

import_rootfs() {   # import_rootfs DIR IMAGE SOURCE-ID CHANGES...
  local root=$1 image=$2 id=$3; shift 3
  local changes=(--change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' --change "LABEL pipeline-world.source=$id")
  local c; for c in "$@"; do changes+=(--change "$c"); done
  tar -C "$root" --numeric-owner -cf - . | rdocker import "${changes[@]}" - "$image" >/dev/null \
    || die "docker import of $image failed; see $LOGS/runner-dockerd.log"
}

ensure_busybox_image() {
  local id root
  id=busybox-$(files_id "$(busybox_bin)")
  [[ $(image_label "$BUSYBOX_IMAGE") == "$id" ]] && return 0
  log "image $BUSYBOX_IMAGE: building from $(busybox_bin)"
  root=$(mktemp -d -p "$STATE" rootfs.XXXXXX); CLEANUP+=("$root")
  make_busybox_rootfs "$root"
  import_rootfs "$root" "$BUSYBOX_IMAGE" "$id" 'CMD ["sh"]'
  rm -rf "$root"
}

ensure_node_image() {
  local node id root lib out
  require_node
  node=$(node_bin)
  # shellcheck disable=SC2046
  id=node-$(files_id "$node" $(node_libs "$node") "$(busybox_bin)")
  [[ $(image_label "$NODE_IMAGE") == "$id" ]] && return 0
  log "image $NODE_IMAGE: building from $node ($("$node" --version))"
  root=$(mktemp -d -p "$STATE" rootfs.XXXXXX); CLEANUP+=("$root")
  make_busybox_rootfs "$root"
  echo 'node:x:1000:1000:node:/home/node:/bin/sh' >>"$root/etc/passwd"
  echo 'node:x:1000:' >>"$root/etc/group"
  mkdir -p "$root/home/node" "$root/usr/local/bin" && chown 1000:1000 "$root/home/node"
  cp "$node" "$root/usr/bin/node"
  # Same paths as on this machine, so the ELF interpreter (/lib64/ld-linux-x86-64.so.2)
  # and the loader's default search path find everything.
  for lib in $(node_libs "$node"); do cp --parents -L "$lib" "$root"; done
  import_rootfs "$root" "$NODE_IMAGE" "$id" 'CMD ["node"]'
  rm -rf "$root"
  out=$(rdocker run --rm "$NODE_IMAGE" node -e 'console.log(1+1)' 2>&1) || true
  [[ $out == 2 ]] || die "image $NODE_IMAGE is broken: node -e 'console.log(1+1)' printed: $out"
  out=$(rdocker run --rm "$NODE_IMAGE" sh -c 'echo ok' 2>&1) || true
  [[ $out == ok ]] || die "image $NODE_IMAGE is broken: sh -c 'echo ok' printed: $out"
}

ensure_logstash_image() {
  local base
  base=$(rdocker image inspect --format '{{.Id}}' "$BUSYBOX_IMAGE")
  [[ $(image_label "$LOGSTASH_IMAGE") == "$base" ]] && return 0
  log "image $LOGSTASH_IMAGE: building the stand-in"
  # Runs forever, exits at once on SIGTERM (sleep in the background so that the
  # trap runs without waiting for it).
  # shellcheck disable=SC2016
  printf '%s\n' 'FROM pipeline-world/busybox:latest' \
    'CMD ["sh", "-c", "trap \"exit 0\" TERM INT; while :; do sleep 1 & wait $!; done"]' \
    | DOCKER_BUILDKIT=0 rdocker build -q --label "pipeline-world.source=$base" -t "$LOGSTASH_IMAGE" - >/dev/null \
    || die "docker build of $LOGSTASH_IMAGE failed; see $LOGS/runner-dockerd.log"
}

# A stand-in for the official caddy:2 image, made from Debian's caddy: the same binary
# path, default Caddyfile, command and XDG folders, with busybox for a shell and wget.
ensure_caddy_image() {
  local caddy id root lib out
  caddy=$(readlink -f /usr/bin/caddy)
  # shellcheck disable=SC2046
  id=caddy-$(files_id "$caddy" $(node_libs "$caddy") "$(busybox_bin)" /etc/caddy/Caddyfile)
  [[ $(image_label "$CADDY_IMAGE") == "$id" ]] && return 0
  log "image $CADDY_IMAGE: building the stand-in from $caddy ($("$caddy" version 2>/dev/null | cut -d' ' -f1))"
  root=$(mktemp -d -p "$STATE" rootfs.XXXXXX); CLEANUP+=("$root")
  make_busybox_rootfs "$root"
  mkdir -p "$root/etc/caddy" "$root/usr/share/caddy" "$root/config/caddy" "$root/data/caddy" "$root/srv"
  cp "$caddy" "$root/usr/bin/caddy"
  for lib in $(node_libs "$caddy"); do cp --parents -L "$lib" "$root"; done
  cp /etc/caddy/Caddyfile "$root/etc/caddy/Caddyfile"
  [[ ! -f /usr/share/caddy/index.html ]] || cp /usr/share/caddy/index.html "$root/usr/share/caddy/"
  import_rootfs "$root" "$CADDY_IMAGE" "$id" 'ENV XDG_CONFIG_HOME=/config' 'ENV XDG_DATA_HOME=/data' 'WORKDIR /srv' \
    'EXPOSE 80 443 2019' 'CMD ["caddy","run","--config","/etc/caddy/Caddyfile","--adapter","caddyfile"]'
  rm -rf "$root"
  out=$(rdocker run --rm "$CADDY_IMAGE" caddy version 2>&1) || true
  [[ $out == v2.* || $out == 2.* ]] || die "image $CADDY_IMAGE is broken: caddy version printed: $out"
}

registry_digest() {   # digest of $1 (repo) : $2 (tag) in the registry, empty if absent
  curl -s -I --max-time 5 -u "$REGISTRY_USER:$(registry_password)" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REGISTRY/v2/$1/manifests/$2" 2>/dev/null \
    | awk 'tolower($1) == "docker-content-digest:" {print $2}' | tr -d '\r'
}

push_world_image() {   # push_world_image IMAGE REPOSITORY TAG — pushed unless the registry has it already
  local image=$1 repo=$2 tag=$3 remote digests cfg
  remote=$(registry_digest "$repo" "$tag")
  digests=$(rdocker image inspect --format '{{join .RepoDigests " "}}' "$image")
  [[ -n $remote && " $digests " == *" $REGISTRY/$repo@$remote "* ]] && return 0
  log "registry: pushing $image"
  # A throwaway client config: no credentials stay in ~/.docker.
  cfg=$(mktemp -d); CLEANUP+=("$cfg")
  registry_password | "$DOCKER" --config "$cfg" -H "unix://$RUNNER_SOCK" login -u "$REGISTRY_USER" --password-stdin "$REGISTRY" >/dev/null 2>"$cfg/err" \
    || die "docker login $REGISTRY failed: $(head -c 300 "$cfg/err"); see $LOGS/registry.log"
  "$DOCKER" --config "$cfg" -H "unix://$RUNNER_SOCK" push "$image" >"$cfg/out" 2>&1 \
    || die "docker push $image failed: $(tail -n 3 "$cfg/out" | tr '\n' ' '); see $LOGS/registry.log"
  rm -rf "$cfg"
}

push_logstash_image() { push_world_image "$LOGSTASH_IMAGE" logstash/logstash 7.17.0; }
push_caddy_image() { push_world_image "$CADDY_IMAGE" caddy 2; }

ensure_images() {   # $1 = push | local
  mkdir -p "$STATE"
  ensure_busybox_image
  ensure_node_image
  ensure_logstash_image
  ensure_caddy_image
  if [[ $1 == push ]]; then push_logstash_image; push_caddy_image; fi
  return 0
}

# ---------------------------------------------------------------- env file

write_env() {
  local i hosts=() socks=() new
  for ((i = 1; i <= HOSTS; i++)); do hosts+=("$(host_ip "$i")"); socks+=("$(host_sock "$i")"); done
  new=$(cat <<EOF
PIPELINE_WORLD_REGISTRY=$REGISTRY
PIPELINE_WORLD_REGISTRY_USER=$REGISTRY_USER
PIPELINE_WORLD_REGISTRY_PASSWORD=$(registry_password)
PIPELINE_WORLD_SSH_USER=$DEPLOY_USER
PIPELINE_WORLD_SSH_KEY=$SSH_KEY
PIPELINE_WORLD_KNOWN_HOSTS=$KNOWN_HOSTS
PIPELINE_WORLD_HOSTS="${hosts[*]}"
PIPELINE_WORLD_HOST_SOCKETS="${socks[*]}"
PIPELINE_WORLD_LOGSTASH_IMAGE=$LOGSTASH_IMAGE
PIPELINE_WORLD_CADDY_IMAGE=$CADDY_IMAGE
PIPELINE_WORLD_NODE_IMAGE=$NODE_IMAGE
PIPELINE_WORLD_BUSYBOX_IMAGE=$BUSYBOX_IMAGE
EOF
)
  (umask 077 && printf '%s\n' "$new" >"$ENV_FILE.tmp") && mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------- reset

hdocker() { local i=$1; shift; "$DOCKER" -H "unix://$(host_sock "$i")" "$@"; }

# Stops the registry and deletes everything pushed to it (ensure_registry starts it again, empty).
wipe_registry() {
  local pid
  pid=$(daemon_pid "$RUN/registry.pid" docker-registry "$REG_DIR/config.yml")
  if [[ -n $pid ]]; then stop_pid "$pid" docker-registry 10; fi
  rm -f "$RUN/registry.pid"
  rm -rf "${REG_DIR:?}/data"
}

# Everything a deploy left on host $1: every container, volume, image and network of its engine (the world
# puts no image there: deploys pull them), and the deploy locks in the deploy user's home.
# shellcheck disable=SC2086 # $ids: one word per id
wipe_host() {
  local i=$1 ids
  ids=$(hdocker "$i" ps -aq) || die "h$i: docker ps failed; see $LOGS/h$i-dockerd.log"
  [[ -z $ids ]] || hdocker "$i" rm -f -v $ids >/dev/null 2>&1 || true
  ids=$(hdocker "$i" volume ls -q)
  [[ -z $ids ]] || hdocker "$i" volume rm -f $ids >/dev/null 2>&1 || true
  ids=$(hdocker "$i" images -q | sort -u)
  [[ -z $ids ]] || hdocker "$i" image rm -f $ids >/dev/null 2>&1 || true
  hdocker "$i" network prune -f >/dev/null 2>&1 || true
  rm -rf "${STATE:?}/h$i/home/.pipeline/locks"
  [[ -z $(hdocker "$i" ps -aq) && -z $(hdocker "$i" volume ls -q) && -z $(hdocker "$i" images -q) ]] \
    || die "h$i: containers, volumes or images are left after removing them; see $LOGS/h$i-dockerd.log"
}

# What pipeline made on the runner engine: the containers of every project (test stages, local deploys) and
# the images it built (labelled pipeline.commit). The base images stay.
# shellcheck disable=SC2086 # $ids: one word per id
wipe_runner() {
  local ids
  ids=$(rdocker ps -aq --filter label=pipeline.project)
  [[ -z $ids ]] || rdocker rm -f -v $ids >/dev/null 2>&1 || true
  ids=$(rdocker images -q --filter label=pipeline.commit | sort -u)
  [[ -z $ids ]] || rdocker image rm -f $ids >/dev/null 2>&1 || true
  [[ -z $(rdocker ps -aq --filter label=pipeline.project) && -z $(rdocker images -q --filter label=pipeline.commit) ]] \
    || die "the runner engine still has pipeline's containers or images after removing them; see $LOGS/runner-dockerd.log"
}

# ---------------------------------------------------------------- commands

prepare_dirs() { mkdir -p "$STATE" "$RUN" "$LOGS"; chmod 755 "$STATE"; }

# Starts (or repairs) every part of the world, then writes the env file. The caller holds the lock.
bring_up() {
  ensure_users
  ensure_runner_key
  ensure_bridge
  ensure_runner strict
  ensure_registry
  ensure_hosts
  ensure_images push
  check_hosts_over_ssh
  write_env
}

cmd_up() {
  local t0=$SECONDS
  ensure_packages "${UP_NEEDS[@]}"
  require_root
  require_node
  prepare_dirs
  with_lock
  bring_up
  log "up: $HOSTS hosts, registry $REGISTRY, env file $ENV_FILE ($((SECONDS - t0))s)"
}

# The world as up leaves it the first time: what runs made in it (pushed tags, deployed containers,
# locks, built images) is gone, so that a test depending on an earlier run fails here too.
cmd_reset() {
  local t0=$SECONDS i pids=() failed=''
  ensure_packages "${UP_NEEDS[@]}"
  require_root
  require_node
  prepare_dirs
  with_lock
  wipe_registry
  bring_up   # starts the emptied registry, pushes the logstash and caddy stand-ins again, repairs a stopped sshd
  for ((i = 1; i <= HOSTS; i++)); do
    (wipe_host "$i") &
    pids+=($!)
  done
  for ((i = 1; i <= HOSTS; i++)); do wait "${pids[i - 1]}" || failed+=" h$i"; done
  [[ -z $failed ]] || die "wiping host(s)$failed failed (see the messages above)"
  wipe_runner
  log "reset: registry emptied but for $LOGSTASH_IMAGE and $CADDY_IMAGE; hosts h1..h$HOSTS without containers, volumes, images or locks; runner engine without pipeline's containers and images ($((SECONDS - t0))s)"
}

cmd_engine() {
  ensure_packages "${ENGINE_NEEDS[@]}"
  require_root
  require_node
  prepare_dirs
  with_lock
  ensure_runner lax
  ensure_images local
  log "engine: up on $RUNNER_SOCK with $BUSYBOX_IMAGE, $NODE_IMAGE, $LOGSTASH_IMAGE, $CADDY_IMAGE"
}

cmd_down() {
  local purge='' i pid
  [[ ${1:-} == --purge ]] && purge=1
  [[ -z ${1:-} || -n $purge ]] || die "usage: world.sh down [--purge]"
  require_root
  prepare_dirs
  with_lock
  local hosts
  hosts=$(existing_hosts)
  [[ -z $hosts ]] || log "down: stopping hosts $(printf 'h%s ' $hosts)"
  for i in $hosts; do stop_host_sshd "$i"; done
  local pids=()
  for i in $hosts; do stop_host_dockerd "$i" & pids+=($!); done
  ((${#pids[@]} == 0)) || wait "${pids[@]}" || true
  for i in $hosts; do teardown_host "$i"; done
  pid=$(daemon_pid "$RUN/registry.pid" docker-registry "$REG_DIR/config.yml")
  if [[ -n $pid ]]; then
    log "down: stopping the registry"
    stop_pid "$pid" docker-registry 10
  fi
  rm -f "$RUN/registry.pid"

  if [[ -n $purge ]] && runner_ping; then
    (wipe_runner) || log "warning: some of pipeline's containers or images stay on the runner engine"
    rdocker image rm -f "$CADDY_IMAGE" "$LOGSTASH_IMAGE" "$NODE_IMAGE" "$BUSYBOX_IMAGE" >/dev/null 2>&1 || true
  fi
  pid=$(daemon_pid "$RUN/runner-dockerd.pid" dockerd "")
  if [[ -n $pid ]]; then
    log "down: stopping the runner engine"
    stop_pid "$pid" dockerd 60
  elif runner_ping; then
    log "runner engine: not started by world.sh, left running"
  fi
  rm -f "$RUN/runner-dockerd.pid"

  ip link del "$BRIDGE" 2>/dev/null || true
  while iptables -w -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  rm -f "$ENV_FILE"
  rm -rf "${RUN:?}"
  if [[ -n $purge ]]; then
    # Nothing may stay mounted under the data dir before it goes.
    for m in $(findmnt -rn -o TARGET | grep "^$STATE/" | sort -r); do umount -l "$m" 2>/dev/null || true; done
    rm -rf "${STATE:?}" "${LOGS:?}"
    log "down: everything stopped, $STATE and $LOGS removed"
  else
    log "down: everything stopped (data kept in $STATE)"
  fi
}

cmd_status() {
  require_root
  local ok=0 i pid line
  st() { printf '%-16s %-8s %s\n' "$1" "$2" "${3:-}"; [[ $2 == up ]] || ok=1; }
  if runner_ping; then
    st runner-engine up "unix://$RUNNER_SOCK ($(rdocker version --format '{{.Server.Version}}' 2>/dev/null))"
  else st runner-engine down "unix://$RUNNER_SOCK"; fi
  if ip -4 -o addr show dev "$BRIDGE" 2>/dev/null | grep -q " $BRIDGE_IP/24 "; then
    st bridge up "$BRIDGE $BRIDGE_IP/24"
  else st bridge down "$BRIDGE"; fi
  pid=$(daemon_pid "$RUN/registry.pid" docker-registry "$REG_DIR/config.yml")
  if [[ -n $pid ]] && registry_answers; then st registry up "http://$REGISTRY (pid $pid)"
  else st registry down "http://$REGISTRY"; fi
  for ((i = 1; i <= HOSTS; i++)); do
    if [[ -e /run/netns/$(host_ns "$i") ]] && veth_ok "$i"; then st "h$i-net" up "$(host_ns "$i") $(host_ip "$i")/24"
    else st "h$i-net" down "$(host_ns "$i")"; fi
    pid=$(host_dockerd_pid "$i")
    if [[ -n $pid ]] && host_dockerd_ping "$i"; then st "h$i-dockerd" up "unix://$(host_sock "$i") (pid $pid)"
    else st "h$i-dockerd" down "unix://$(host_sock "$i")"; fi
    pid=$(host_sshd_pid "$i")
    if [[ -n $pid ]] && sshd_banner "$i"; then st "h$i-sshd" up "$(host_ip "$i"):22 (pid $pid)"
    else st "h$i-sshd" down "$(host_ip "$i"):22"; fi
  done
  if runner_ping && rdocker image inspect "$BUSYBOX_IMAGE" "$NODE_IMAGE" "$LOGSTASH_IMAGE" "$CADDY_IMAGE" >/dev/null 2>&1; then
    st images up "$BUSYBOX_IMAGE $NODE_IMAGE $LOGSTASH_IMAGE $CADDY_IMAGE"
  else st images down; fi
  if [[ -f $ENV_FILE ]]; then st env-file up "$ENV_FILE"; else st env-file down "$ENV_FILE"; fi
  return $ok
}

host_arg() {
  [[ ${1:-} =~ ^h([0-9]+)$ ]] && ((BASH_REMATCH[1] >= 1 && BASH_REMATCH[1] <= MAX_HOSTS)) \
    || die "expected a host name h1..h$MAX_HOSTS, got '${1:-}'"
  echo "${BASH_REMATCH[1]}"
}

cmd_sshd_stop() {
  local i; i=$(host_arg "${1:-}")
  require_root
  with_lock
  stop_host_sshd "$i"
  log "h$i: sshd stopped"
}

cmd_sshd_start() {
  local i; i=$(host_arg "${1:-}")
  require_root
  with_lock
  [[ -e /run/netns/$(host_ns "$i") && -s $SSH_KEY.pub ]] || die "h$i does not exist; run world.sh up first"
  ensure_host_sshd "$i"
  log "h$i: sshd running on $(host_ip "$i"):22"
}

# ---------------------------------------------------------------- swarm

# A Docker Swarm made of some of the hosts, on demand (tests that deploy to a swarm form it and leave it):
# the first host is the manager, the others join as workers; hN=ROLE labels the node role=ROLE.

hdocker() { local i=$1; shift; "$DOCKER" -H "unix://$(host_sock "$i")" "$@"; }

swarm_info() { hdocker "$1" info --format "$2" 2>/dev/null; }

swarm_args() {   # swarm_args hN[=ROLE]... → "I ROLE" lines (ROLE "-" for none)
  local arg host role
  for arg in "$@"; do
    host=${arg%%=*} role=-
    [[ $arg == *=* ]] && role=${arg#*=}
    [[ $role == - || $role =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die "invalid role '$role' in '$arg'"
    echo "$(host_arg "$host") $role"
  done
}

swarm_join() {   # swarm_join I MANAGER — I joins MANAGER's swarm as a worker (leaving any other swarm first)
  local i=$1 m=$2 id token
  id=$(swarm_info "$i" '{{.Swarm.NodeID}}')
  if [[ $(swarm_info "$i" '{{.Swarm.LocalNodeState}}') == active && -n $id ]] \
    && [[ $(hdocker "$m" node inspect --format '{{.Status.State}}' "$id" 2>/dev/null) == ready ]]; then
    return 0
  fi
  [[ $(swarm_info "$i" '{{.Swarm.LocalNodeState}}') == inactive ]] || hdocker "$i" swarm leave --force >/dev/null
  token=$(hdocker "$m" swarm join-token -q worker)
  hdocker "$i" swarm join --token "$token" --advertise-addr "$(host_ip "$i")" --listen-addr "$(host_ip "$i"):2377" \
    "$(host_ip "$m"):2377" >/dev/null || die "h$i: docker swarm join failed; see $LOGS/h$i-dockerd.log"
  log "h$i: joined the swarm of h$m"
}

node_ready() { [[ $(hdocker "$1" node inspect --format '{{.Status.State}}' "$2" 2>/dev/null) == ready ]]; }

cmd_swarm_up() {
  (($# >= 1)) || die "usage: world.sh swarm-up MANAGER[=ROLE] [WORKER[=ROLE]...], e.g. swarm-up h3=web h4=web h5=worker"
  require_root
  local layout m i role id
  layout=$(swarm_args "$@")
  with_lock
  m=$(head -n1 <<<"$layout" | cut -d' ' -f1)
  if [[ $(swarm_info "$m" '{{.Swarm.ControlAvailable}}') != true ]]; then
    [[ $(swarm_info "$m" '{{.Swarm.LocalNodeState}}') == inactive ]] || hdocker "$m" swarm leave --force >/dev/null
    hdocker "$m" swarm init --advertise-addr "$(host_ip "$m")" --listen-addr "$(host_ip "$m"):2377" >/dev/null \
      || die "h$m: docker swarm init failed; see $LOGS/h$m-dockerd.log"
    log "h$m: swarm manager"
  fi
  while read -r i role; do
    [[ $i == "$m" ]] || swarm_join "$i" "$m"
  done <<<"$layout"
  # Nodes that left (down) are forgotten, so that the swarm is exactly the hosts named.
  for id in $(hdocker "$m" node ls -q); do
    [[ $(hdocker "$m" node inspect --format '{{.Status.State}}' "$id") == down ]] && hdocker "$m" node rm --force "$id" >/dev/null
  done
  while read -r i role; do
    id=$(swarm_info "$i" '{{.Swarm.NodeID}}')
    wait_for 30 node_ready "$m" "$id" || die "h$i: the swarm node $id is not ready after 30s"
    if [[ $role == - ]]; then hdocker "$m" node update --label-rm role "$id" >/dev/null 2>&1 || true
    else hdocker "$m" node update --label-add "role=$role" "$id" >/dev/null; fi
  done <<<"$layout"
  log "swarm: manager h$m, nodes $(cut -d' ' -f1 <<<"$layout" | sed 's/^/h/' | tr '\n' ' ')"
}

# Every named host (default: all) leaves its swarm; the services of a swarm whose manager leaves are
# removed first, and no task container, swarm network or docker_gwbridge stays: the hosts are plain engines again.
cmd_swarm_down() {
  require_root
  local hosts=() arg i left=()
  for arg in "$@"; do hosts+=("$(host_arg "$arg")"); done
  ((${#hosts[@]} > 0)) || read -ra hosts <<<"$(seq 1 "$HOSTS" | tr '\n' ' ')"
  with_lock
  for i in "${hosts[@]}"; do
    [[ -S $(host_sock "$i") && $(swarm_info "$i" '{{.Swarm.ControlAvailable}}') == true ]] || continue
    hdocker "$i" service ls -q | xargs -r "$DOCKER" -H "unix://$(host_sock "$i")" service rm >/dev/null 2>&1 || true
  done
  for i in "${hosts[@]}"; do
    [[ -S $(host_sock "$i") ]] || continue
    if [[ $(swarm_info "$i" '{{.Swarm.LocalNodeState}}') != inactive ]]; then
      hdocker "$i" swarm leave --force >/dev/null 2>&1 || die "h$i: docker swarm leave failed; see $LOGS/h$i-dockerd.log"
      left+=("h$i")
    fi
    hdocker "$i" ps -aq --filter label=com.docker.swarm.task | xargs -r "$DOCKER" -H "unix://$(host_sock "$i")" rm -f >/dev/null 2>&1 || true
    hdocker "$i" network rm docker_gwbridge >/dev/null 2>&1 || true
  done
  log "swarm: ${left[*]:-no host} left"
}

cmd_env() {
  [[ -f $ENV_FILE ]] || die "no $ENV_FILE: the world is not up (run world.sh up)"
  cat "$ENV_FILE"
}

usage() {
  cat >&2 <<EOF
usage: world.sh COMMAND
  up                 start (or repair) the whole world, then write $ENV_FILE
  engine             only the runner's docker engine and the base images
  reset              up, then as new: the registry emptied (but for the logstash and caddy stand-ins), every
                     container, volume, image and deploy lock on the hosts removed, and the containers
                     and images pipeline made on the runner engine (the base images stay)
  down [--purge]     stop everything; --purge also deletes $STATE, the base images and pipeline's
                     containers and images on the runner engine
  status             one line per component; exit 0 only when all are up
  env                print $ENV_FILE
  sshd-stop hN       stop host N's sshd (host unreachable)
  sshd-start hN      start it again
  swarm-up hN[=ROLE]...  form a swarm: the first host manages it, the others join; ROLE labels the node role=ROLE
  swarm-down [hN...]     the hosts (default: all) leave their swarm, its services and task containers removed
WORLD_HOSTS=N sets the number of hosts (default 5).
EOF
}

main() {
  local cmd=${1:-}
  shift || true
  case $cmd in
    up) cmd_up ;;
    reset) cmd_reset ;;
    engine) cmd_engine ;;
    down) cmd_down "$@" ;;
    status) cmd_status ;;
    env) cmd_env ;;
    sshd-stop) cmd_sshd_stop "$@" ;;
    sshd-start) cmd_sshd_start "$@" ;;
    swarm-up) cmd_swarm_up "$@" ;;
    swarm-down) cmd_swarm_down "$@" ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
