#!/usr/bin/env bash
# Makes, without any container registry, the base images that Dockerfile and
# Dockerfile.gpu start from, under the names the Dockerfiles use:
#
#   docker.io/library/debian:bookworm-slim   debootstrap --variant=minbase from
#                                            the Debian mirror apt uses here
#   docker.io/library/golang:1.26-bookworm   that base, plus gcc and libc6-dev
#                                            (cgo), plus this host's Go toolchain
#   docker.io/nvidia/cuda:<tag>              a stand-in: the Debian base under
#                                            the CUDA image's name, with no CUDA
#                                            in it; it lets Dockerfile.gpu build
#                                            here, it cannot run a GPU
#
# Idempotent: a base that already exists is left alone (remove it to remake
# it). With podman it also writes, unless it exists, the containers.conf that
# builds and runs need on a host like the CI VM (runc, ulimits within the
# host's hard limits); the Makefile uses it when present. See
# docs/containers.md.
#
# Needs root, debootstrap, Go (GOROOT is copied in) and podman or docker.
# Environment, all optional:
#   ENGINE          podman or docker (default: podman when installed)
#   GO              the go command whose GOROOT goes into the Go image
#   DEBIAN_MIRROR   Debian mirror (default: the first one apt is configured with)
#   DEBIAN_SUITE    bookworm
#   BASE_IMAGE      docker.io/library/debian:bookworm-slim
#   GO_IMAGE        docker.io/library/golang:1.26-bookworm
#   CUDA_IMAGE      docker.io/nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04
#   CONTAINERS_CONF where to write podman's containers.conf
#                   (default .cache/podman/containers.conf)
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${ENGINE:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
BASE_IMAGE=${BASE_IMAGE:-docker.io/library/debian:bookworm-slim}
GO_IMAGE=${GO_IMAGE:-docker.io/library/golang:1.26-bookworm}
CUDA_IMAGE=${CUDA_IMAGE:-docker.io/nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04}
GO=${GO:-go}
quiet=()
[ "$ENGINE" != podman ] || quiet=(--quiet)

log() { echo "airgap-images: $*" >&2; }
die() { log "error: $*"; exit 1; }

exists() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

# podman_conf writes the containers.conf this host needs: crun fails on a
# cgroup v1 layout, and podman's default ulimits (nofile 1048576) exceed the
# hard limits of a host such as a CI VM, so every container start would fail.
podman_conf() {
  CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/.cache/podman/containers.conf}
  export CONTAINERS_CONF
  [ -f "$CONTAINERS_CONF" ] && return 0
  local nofile=20000 nproc=32768 hard
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$nofile" ]; then nofile=$hard; fi
  hard=$(ulimit -Hu)
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$nproc" ]; then nproc=$hard; fi
  mkdir -p "$(dirname "$CONTAINERS_CONF")"
  {
    echo "# Written by scripts/airgap-images.sh; see docs/containers.md."
    echo "[containers]"
    echo "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
    if command -v runc >/dev/null 2>&1; then
      echo "[engine]"
      echo "runtime = \"runc\""
    fi
  } >"$CONTAINERS_CONF.tmp"
  mv "$CONTAINERS_CONF.tmp" "$CONTAINERS_CONF"
  log "wrote $CONTAINERS_CONF"
}

# apt_mirror prints the first Debian mirror that apt is configured with for
# the suite (deb822 .sources stanzas first, then one-line .list entries).
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$DEBIAN_SUITE" 'BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""; types = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/)    { uris = $i;   sub(/^URIs:[ \t]*/, "", uris) }
          if ($i ~ /^Suites:/)  { suites = " " $i " " }
          if ($i ~ /^Types:/)   { types = " " $i " " }
          if ($i ~ /^Enabled:/) { enabled = $i; sub(/^Enabled:[ \t]*/, "", enabled) }
        }
        if (enabled != "no" && types ~ / deb / && suites ~ (" " suite " ")) {
          split(uris, u, /[ \t]+/); print u[1]; exit
        }
      }' "$f"
  done
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk -v suite="$DEBIAN_SUITE" '$1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }'
}

# rootfs_tar streams a root file system as an image layer, leaving out the
# package lists, the downloaded packages, manuals and translations (as
# Debian's slim images do) and this host's resolver and name.
rootfs_tar() {
  tar -C "$1" --numeric-owner \
    --exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/*' \
    --exclude='./usr/share/man/*' --exclude='./usr/share/locale/*' \
    --exclude='./usr/share/info/*' --exclude=./etc/resolv.conf \
    --exclude=./etc/hostname -cf - .
}

make_debian() {
  local mirror=${DEBIAN_MIRROR:-$(apt_mirror | head -n1)}
  [ -n "$mirror" ] || die "no Debian mirror for $DEBIAN_SUITE in /etc/apt/sources.list*; set DEBIAN_MIRROR"
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed (apt-get install debootstrap)"
  log "debootstrap --variant=minbase $DEBIAN_SUITE from $mirror"
  if ! timeout 900 debootstrap --variant=minbase "$DEBIAN_SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  fi
}

import_debian() {
  log "importing $BASE_IMAGE"
  rootfs_tar "$root" | "$ENGINE" import "${quiet[@]}" --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
}

# import_go adds what the official Go image has and the build needs (gcc
# and libc6-dev for cgo, ca-certificates) and this host's Go toolchain, with
# the official image's environment.
import_go() {
  local goroot goversion
  goroot=$("$GO" env GOROOT)
  goversion=$("$GO" env GOVERSION)
  log "adding gcc, libc6-dev and $goversion from $goroot"
  if ! {
    timeout 600 chroot "$root" apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive timeout 600 chroot "$root" apt-get install -y -qq \
        --no-install-recommends ca-certificates gcc libc6-dev make pkg-config
  } >"$work/apt.log" 2>&1; then
    tail -n 20 "$work/apt.log" >&2
    die "installing the C toolchain failed (log above)"
  fi
  chroot "$root" apt-get clean
  rm -rf "$root/usr/local/go"
  cp -a "$goroot" "$root/usr/local/go"
  mkdir -p "$root/go/bin" "$root/go/src"
  chmod -R 1777 "$root/go"
  log "importing $GO_IMAGE"
  rootfs_tar "$root" | "$ENGINE" import "${quiet[@]}" \
    --change "ENV GOLANG_VERSION=${goversion#go}" \
    --change 'ENV GOTOOLCHAIN=local' \
    --change 'ENV GOPATH=/go' \
    --change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'WORKDIR /go' \
    --change 'CMD ["bash"]' \
    - "$GO_IMAGE" >/dev/null
}

main() {
  if [ "$ENGINE" = podman ]; then podman_conf; fi
  command -v "$ENGINE" >/dev/null 2>&1 || die "$ENGINE is not installed"
  if exists "$BASE_IMAGE" && exists "$GO_IMAGE" && exists "$CUDA_IMAGE"; then
    log "bases present: $BASE_IMAGE, $GO_IMAGE, $CUDA_IMAGE"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "debootstrap and chroot need root"
  work=$(mktemp -d /var/tmp/sluice-bases.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  root=$work/rootfs
  if ! exists "$BASE_IMAGE" || ! exists "$GO_IMAGE"; then
    make_debian
    exists "$BASE_IMAGE" || import_debian
    exists "$GO_IMAGE" || import_go
  fi
  if ! exists "$CUDA_IMAGE"; then
    log "tagging $BASE_IMAGE as the stand-in $CUDA_IMAGE (no CUDA inside)"
    "$ENGINE" tag "$BASE_IMAGE" "$CUDA_IMAGE"
  fi
  log "bases ready: $BASE_IMAGE, $GO_IMAGE, $CUDA_IMAGE"
}

main "$@"
