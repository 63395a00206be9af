#!/usr/bin/env bash
# Checks the images `make image` and `make image-gpu` built (make image-test
# builds them first, air-gapped):
#
#   CPU image, models/ mounted read-only, port published on 127.0.0.1 only:
#     the imagetest Go tests (readiness, metadata, inference on both models
#     through the client package), the server runs as a non-root user, the
#     image's HEALTHCHECK passes;
#   demo image (models inside): the same Go tests;
#   GPU image (here on the CUDA stand-in, no GPU): `sluice doctor` finds the
#     CUDA provider library and says that there is no GPU, and exits non-zero.
#
# Every container it starts is removed on exit, failed or not. podman only.
# Environment: IMAGE (sluice), VERSION (server.Version), GO (go),
# READY_WAIT (2m), CONTAINERS_CONF (.cache/podman/containers.conf when it
# exists).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-sluice}
VERSION=${VERSION:-$(sed -n 's/^const Version = "\(.*\)"$/\1/p' server/server.go)}
GO=${GO:-go}
READY_WAIT=${READY_WAIT:-2m}
if [ -z "${CONTAINERS_CONF:-}" ] && [ -f .cache/podman/containers.conf ]; then
  export CONTAINERS_CONF=$PWD/.cache/podman/containers.conf
fi

log() { echo "image-test: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

command -v podman >/dev/null 2>&1 || die "podman is not installed"

containers=()
scratch=
cleanup() {
  local rc=$? c
  [ -z "$scratch" ] || rm -rf "$scratch"
  for c in "${containers[@]}"; do
    podman container exists "$c" || continue
    if [ "$rc" != 0 ]; then
      log "logs of $c:"
      podman logs "$c" 2>&1 | tail -n 30 >&2 || true
    fi
    podman rm -f -t 15 "$c" >/dev/null 2>&1 || true
  done
  exit "$rc"
}
trap cleanup EXIT

# start NAME IMAGE [podman run options...] starts a detached container with
# the server's ports (HTTP 8000, gRPC 8001) published on free ports of
# 127.0.0.1.
start() {
  local name=$1 image=$2
  shift 2
  local err
  containers+=("$name")
  # Its stderr only on failure: without systemd podman complains that it
  # cannot schedule the periodic health checks, every time.
  err=$(timeout 60 podman run -d --name "$name" -p 127.0.0.1::8000 -p 127.0.0.1::8001 "$@" "$image" 2>&1 >/dev/null) ||
    die "podman run $image failed: $err"
}

# published NAME PORT prints where the container's PORT is published.
published() {
  local addr
  addr=$(timeout 30 podman port "$1" "$2/tcp" | head -n1)
  case $addr in
    127.0.0.1:*) echo "$addr" ;;
    *) die "$1: port $2 published on '$addr', expected 127.0.0.1 only" ;;
  esac
}

# url NAME prints the base URL of the container's published HTTP port.
url() {
  echo "http://$(published "$1" 8000)"
}

# go_tests NAME runs the imagetest tests against the container.
go_tests() {
  local u
  u=$(url "$1")
  log "$1: Go client tests against $u"
  timeout 300 "$GO" test -tags imagetest -count=1 ./imagetest/ -url "$u" -grpc-addr "$(published "$1" 8001)" -ready-wait "$READY_WAIT" ||
    die "$1: imagetest tests failed"
}

check_user() {
  local uid huser
  uid=$(timeout 30 podman exec "$1" id -u)
  huser=$(timeout 30 podman top "$1" huser | tail -n +2 | sort -u | tr -d ' ')
  if [ "$uid" = 0 ] || [ -z "$huser" ] || [ "$huser" = 0 ] || [ "$huser" = root ]; then
    die "$1: the server runs as uid $uid (host user '$huser'), expected non-root"
  fi
  log "$1: runs as uid $uid (host user $huser)"
}

# check_health runs the image's HEALTHCHECK until it passes, bounded. (Without
# systemd podman cannot schedule the periodic checks and says so; a check run
# by hand works.)
check_health() {
  local i
  [ "$(podman inspect --format '{{json .Config.Healthcheck}}' "$1")" != null ] ||
    die "$1: the image has no HEALTHCHECK (built in OCI format?)"
  for i in $(seq 1 30); do
    if timeout 30 podman healthcheck run "$1" >/dev/null 2>&1; then
      log "$1: HEALTHCHECK passes (try $i)"
      return 0
    fi
    sleep 1
  done
  die "$1: HEALTHCHECK did not pass in 30 tries"
}

test_cpu() {
  local c=sluice-imagetest-$$-cpu
  start "$c" "$IMAGE:$VERSION" -v "$PWD/models:/models:ro"
  go_tests "$c"
  check_user "$c"
  check_health "$c"
}

test_demo() {
  local c=sluice-imagetest-$$-demo
  start "$c" "$IMAGE:$VERSION-demo"
  go_tests "$c"
}

# test_gpu runs `sluice doctor` in the GPU image, on this machine without a
# GPU, over a repository whose model asks for the CUDA provider: it must find
# the CUDA provider library beside the core, say that there is no NVIDIA GPU,
# and exit non-zero naming the model.
test_gpu() {
  local name=sluice-imagetest-$$-gpu repo out rc=0
  scratch=$(mktemp -d)
  repo=$scratch/models
  containers+=("$name")
  mkdir -p "$repo/student-success/1"
  cp models/student-success/1/model.onnx "$repo/student-success/1/"
  printf 'provider: cuda\nfallback: fail\n' >"$repo/student-success/config.yaml"
  chmod -R a+rX "$repo"
  out=$(timeout 120 podman run --rm --name "$name" --health-cmd none -v "$repo:/models:ro" \
    "$IMAGE:$VERSION-gpu" doctor 2>&1) || rc=$?
  printf '%s\n' "$out" | sed 's/^/  doctor: /' >&2
  [ "$rc" != 124 ] || die "sluice doctor timed out"
  [ "$rc" != 0 ] || die "sluice doctor exited 0 for a cuda model without a GPU"
  grep -Eq '^ *build +GPU \(CUDA provider beside' <<<"$out" ||
    die "sluice doctor does not see the CUDA provider library beside the core"
  grep -Eq 'no NVIDIA GPU found' <<<"$out" ||
    die "sluice doctor does not say that there is no NVIDIA GPU"
  grep -Eq 'student-success.*FAILS' <<<"$out" ||
    die "sluice doctor does not name the model that cannot run"
  log "GPU image: doctor sees the CUDA provider, no GPU, and exits $rc"
}

main() {
  local image
  for image in "$IMAGE:$VERSION" "$IMAGE:$VERSION-demo" "$IMAGE:$VERSION-gpu"; do
    podman image exists "$image" || die "$image is missing: run make image image-gpu first"
  done
  test_cpu
  test_demo
  test_gpu
  podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "/?$IMAGE:$VERSION" | sed 's/^/image-test: size of /' >&2
  log "PASS"
}

main "$@"
