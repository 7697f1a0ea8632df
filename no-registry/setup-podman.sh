#!/usr/bin/env bash
# Installs and configures podman (with runc) so the container images can be built and run here.
# Idempotent; safe to call from .ci/run and from the container test. Needs root (or sudo) for apt.
#
#   no-registry/setup-podman.sh          install podman, runc, netavark and Debian's redis-server, write containers.conf
#   no-registry/setup-podman.sh --check  only report whether podman can run a container
#   no-registry/setup-podman.sh --help
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: no-registry/setup-podman.sh [--check] [--help]

Installs podman, runc, netavark, aardvark-dns, redis-server and busybox-static (Debian packages) when missing and writes
/etc/containers/containers.conf (runc runtime, cgroupfs cgroup manager,
netavark networks, nofile/nproc ulimits) so
rootful podman works on a machine without systemd or a Docker engine.

  --check   install nothing; exit 0 when `podman info` works, 1 otherwise
  --help    show this help
USAGE
}

check_only=0
for arg in "$@"; do
  case "$arg" in
    --help | -h) usage; exit 0 ;;
    --check) check_only=1 ;;
    *) echo "setup-podman: unknown option: $arg (try --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[setup-podman] %s\n' "$*"; }

if [[ $check_only == 1 ]]; then
  if command -v podman >/dev/null 2>&1 && podman info >/dev/null 2>&1; then
    log "podman works: $(podman --version)"
    exit 0
  fi
  echo "setup-podman: podman is not installed, or \`podman info\` fails" >&2
  exit 1
fi

SUDO=()
if [[ $(id -u) != 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "setup-podman: must run as root (or with sudo available) to install packages" >&2
    exit 1
  fi
fi

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
# netavark + aardvark-dns: with the CNI backend, podman turns DNS off on --internal networks, and the
# compose stack resolves `redis` and `backend` by name on its internal network.
[[ -x /usr/lib/podman/netavark ]] || missing+=(netavark)
[[ -x /usr/lib/podman/aardvark-dns ]] || missing+=(aardvark-dns)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# busybox-static: the shell and tools inside the locally built stand-in base images.
[[ -x /bin/busybox ]] || missing+=(busybox-static)
if ((${#missing[@]} > 0)); then
  log "installing ${missing[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=900 update -qq
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "podman, runc and redis-server already installed"
fi

conf=/etc/containers/containers.conf
want='# Written by tasktier no-registry/setup-podman.sh
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"

[network]
network_backend = "netavark"
'
if [[ -f $conf ]] && [[ "$(cat "$conf")" == "${want%$'\n'}" ]]; then
  log "$conf already configured"
else
  if [[ -f $conf ]] && ! grep -qE 'tasktier (containers|no-registry)/setup-podman.sh' "$conf"; then
    "${SUDO[@]}" cp "$conf" "$conf.before-tasktier"
    log "kept the previous $conf as $conf.before-tasktier"
  fi
  "${SUDO[@]}" mkdir -p /etc/containers
  printf '%s' "$want" | "${SUDO[@]}" tee "$conf" >/dev/null
  log "wrote $conf (runtime runc, cgroupfs, ulimits)"
fi

if podman info >/dev/null 2>&1; then
  log "ready: $(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}'), network $(podman info --format '{{.Host.NetworkBackend}}')"
else
  echo "setup-podman: podman is installed but 'podman info' fails:" >&2
  podman info >&2 || true
  exit 1
fi
