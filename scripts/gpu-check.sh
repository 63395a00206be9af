#!/usr/bin/env bash
# Checks Sluice on a GPU host without a network, in under 5 minutes, from
# what scripts/stage-gpu-check.sh staged under STAGE (default
# .cache/gpu-check): it joins and checks the GPU build of ONNX Runtime,
# finds the CUDA libraries (the system's or NVIDIA's Python wheels), runs
# `sluice doctor`, the GPU provider tests (the gpu-tagged test binary) and
# `sluice bench` on ppocr-cls on CUDA with batching on and off, and prints
# one summary. Every step is bounded with timeout.
#
# usage: scripts/gpu-check.sh [--cpu] [STAGE]
#   --cpu  exercise every step without a GPU (models fall back to the CPU,
#          the provider tests fail): a check of this script, not of a GPU
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

cpu=0
if [ "${1:-}" = "--cpu" ]; then
  cpu=1
  shift
fi
stage=${1:-.cache/gpu-check}
begin=$(date +%s)
budget=290 # seconds for the whole check, under the 5 minutes promised
ortdir=.cache/onnxruntime-gpu/1.29.0
cuda_libs="libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9"
summary=()
failed=0

fail() { echo "gpu-check: $*" >&2; exit 1; }
note() { summary+=("$1"); echo "== $1" >&2; }
bad() { note "$1"; failed=1; }
# left is the seconds a step may take: its own limit, or what the budget has left.
left() { local rest=$((budget - ($(date +%s) - begin))); [ "$rest" -lt "$1" ] && echo $((rest > 1 ? rest : 1)) || echo "$1"; }

gpu_found() {
  compgen -G "/dev/nvidia[0-9]*" >/dev/null || compgen -G "/proc/driver/nvidia/gpus/*" >/dev/null ||
    timeout 10 nvidia-smi -L >/dev/null 2>&1
}

if [ "$cpu" = 0 ] && ! gpu_found; then
  fail "no NVIDIA GPU found (no /dev/nvidia*, no /proc/driver/nvidia/gpus, no answer from nvidia-smi)"
fi
[ -f "$stage/ort/SHA256SUMS" ] || fail "nothing staged in $stage: run scripts/stage-gpu-check.sh on a networked machine first"
stage=$(cd "$stage" && pwd)
if [ "$cpu" = 0 ]; then
  note "gpus: $(timeout 10 nvidia-smi -L 2>/dev/null | tr '\n' ';' || echo 'nvidia-smi gave nothing')"
fi

# join puts the staged libraries, joined from their parts, in $ortdir and
# checks them against the staged sums.
join() {
  mkdir -p "$ortdir" || return 1
  local name src
  while read -r _ name; do
    src=("$stage/ort/$name")
    [ -f "${src[0]}" ] || src=("$stage/ort/$name".part-*)
    timeout "$(left 30)" cat "${src[@]}" >"$ortdir/$name.tmp" || return 1
    mv "$ortdir/$name.tmp" "$ortdir/$name" || return 1
  done <"$stage/ort/SHA256SUMS"
  (cd "$ortdir" && timeout "$(left 30)" sha256sum --quiet -c "$stage/ort/SHA256SUMS")
}
join || fail "joining the staged ONNX Runtime into $ortdir failed, or its sha256 does not match"
note "onnx runtime: joined into $ortdir, sha256 checked"
if [ ! -f models/ppocr-cls/1/model.onnx ]; then
  mkdir -p models/ppocr-cls/1 && cp "$stage/models/ppocr-cls/1/model.onnx" models/ppocr-cls/1/model.onnx
fi

# wheel_dirs lists the lib folders of NVIDIA's Python wheels.
wheel_dirs() {
  local roots=(/usr/lib /usr/local/lib /opt/conda/lib "$HOME/.local/lib")
  [ -n "${VIRTUAL_ENV:-}" ] && roots+=("$VIRTUAL_ENV/lib")
  [ -n "${CONDA_PREFIX:-}" ] && roots+=("$CONDA_PREFIX/lib")
  local r
  for r in "${roots[@]}"; do
    compgen -G "$r/python3*/*-packages/nvidia/*/lib" || true
  done
}

# loadable says whether the loader finds lib: LD_LIBRARY_PATH or its cache.
loadable() {
  local d
  local path=${LD_LIBRARY_PATH:-}
  for d in ${path//:/ }; do [ -e "$d/$1" ] && return 0; done
  ldconfig -p 2>/dev/null | grep -q " $1 "
}

missing=()
for lib in $cuda_libs; do
  loadable "$lib" && continue
  for d in $(wheel_dirs); do
    if [ -e "$d/$lib" ]; then
      export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      continue 2
    fi
  done
  missing+=("$lib")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$cpu" = 0 ] && fail "missing CUDA libraries: ${missing[*]} (not on LD_LIBRARY_PATH, in ldconfig's cache or in site-packages/nvidia/*/lib)"
  note "cuda libraries: missing ${missing[*]} (--cpu: going on)"
else
  note "cuda libraries: all found (LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-})"
fi

export ONNXRUNTIME_LIB="$PWD/$ortdir/libonnxruntime.so" ONNXRUNTIME_GPU_LIB="$PWD/$ortdir/libonnxruntime.so"
bin="$stage/bin"
work=$(mktemp -d)
serve_pid=
trap '[ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null; rm -rf "$work"' EXIT

# repo writes the bench repository: ppocr-cls on CUDA, batched and not.
fallback=fail
[ "$cpu" = 1 ] && fallback=cpu
for m in batched:16 single:0; do
  dir="$work/repo/ppocr-cls-${m%:*}"
  mkdir -p "$dir/1" && cp models/ppocr-cls/1/model.onnx "$dir/1/"
  printf 'provider: cuda\nfallback: %s\ninstances: 2\nmax_batch_size: %s\nmax_queue_size: 1024\ninputs:\n  - name: x\n    dims: [-1, 3, 48, 192]\n' \
    "$fallback" "${m#*:}" >"$dir/config.yaml"
done

if timeout "$(left 30)" "$bin/sluice" doctor -repository.path "$work/repo" >"$work/doctor.txt" 2>&1; then
  note "sluice doctor: ok"
else
  bad "sluice doctor: FAILED: $(tail -1 "$work/doctor.txt")"
fi
cat "$work/doctor.txt" >&2

(cd runtime/gputest && timeout "$(left 150)" "$bin/gputest.test" -test.v -test.count=1) >"$work/tests.txt" 2>&1
tests_rc=$?
passed=$(grep -c '^--- PASS' "$work/tests.txt")
failing=$(grep '^--- FAIL' "$work/tests.txt" | awk '{print $3}' | xargs)
if [ "$tests_rc" = 0 ]; then
  note "provider tests: PASS ($passed)"
else
  bad "provider tests: FAIL (rc $tests_rc; $passed passed; failed: ${failing:-none listed})"
  grep -B1 -A3 '^--- FAIL\|^panic' "$work/tests.txt" | head -40 >&2
fi

# serve starts sluice serve on a free port and waits for both models.
"$bin/sluice" serve -repository.path "$work/repo" -repository.control_mode none \
  -server.addr 127.0.0.1:0 -log.format json >"$work/serve.log" 2>&1 &
serve_pid=$!
addr=
deadline=$(($(date +%s) + $(left 90)))
while [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$serve_pid" 2>/dev/null; do
  addr=$(grep -o '"msg":"serving KServe v2".*' "$work/serve.log" | grep -o '"addr":"[^"]*"' | cut -d'"' -f4)
  [ -n "$addr" ] && break
  sleep 0.2
done

# status is the HTTP status of GET path on addr, with curl or bash alone.
status() {
  if command -v curl >/dev/null; then
    curl -s -o /dev/null -m 5 -w '%{http_code}' "http://$addr$1"
    return
  fi
  exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}" || return
  printf 'GET %s HTTP/1.0\r\n\r\n' "$1" >&3
  head -1 <&3 | cut -d' ' -f2
  exec 3>&-
}

[ -n "$addr" ] || bad "sluice serve: never said where it serves: $(tail -2 "$work/serve.log")"
for m in batched single; do
  model=ppocr-cls-$m
  while [ -n "$addr" ] && [ "$(date +%s)" -lt "$deadline" ] && [ "$(status "/v2/models/$model/ready")" != 200 ]; do
    sleep 0.5
  done
  label="batching $([ "$m" = batched ] && echo on || echo off)"
  if ! timeout "$(left 45)" "$bin/sluice" bench -url "http://$addr" -model "$model" -mode closed -concurrency 32 \
    -warmup 2s -window 3s -max-windows 4 -quiet >"$work/bench-$m.txt" 2>&1; then
    bad "bench $label: FAILED: $(tail -1 "$work/bench-$m.txt")"
    continue
  fi
  [ "$m" = batched ] && note "bench columns: $(head -1 "$work/bench-$m.txt" | tr -s ' ')"
  note "bench $label: $(sed -n 2p "$work/bench-$m.txt" | tr -s ' ')"
done
fell=$(grep -c 'execution provider unavailable' "$work/serve.log")
[ "$fell" -gt 0 ] && note "serve: $fell versions fell back to the CPU: $(grep -o 'reason=.*\|"reason":"[^"]*"' "$work/serve.log" | head -1)"
kill "$serve_pid" 2>/dev/null
wait "$serve_pid" 2>/dev/null
serve_pid=

echo
echo "gpu-check summary ($(($(date +%s) - begin))s, $(head -1 "$stage/STAGED" 2>/dev/null)):"
printf '  %s\n' "${summary[@]}"
[ "$failed" = 0 ] && echo "gpu-check: PASS" || echo "gpu-check: FAIL"
exit "$failed"
