#!/usr/bin/env bash
# Installs the GPU build of ONNX Runtime into .cache/onnxruntime-gpu/<version>/:
# the 1.29 core (libonnxruntime.so) from the npm package
# com.github.asus4.onnxruntime, and its CUDA and TensorRT providers with
# libonnxruntime_providers_shared.so from com.github.asus4.onnxruntime.linux-x64-gpu,
# side by side, since ONNX Runtime loads providers from the core's folder.
# Pinned versions; every tarball and file is checked by sha256. Idempotent:
# files already present with the right sums are left alone.
#
# At run time the CUDA provider needs the NVIDIA driver, CUDA 13 (cudart,
# cuBLAS, cuBLASLt, cuRAND) and cuDNN 9; TensorRT also needs TensorRT 10.
# See docs/gpu.md.
set -euo pipefail
cd "$(dirname "$0")/.."

version=1.29.0
dest=.cache/onnxruntime-gpu/$version
dir=package/Plugins/Linux/x64

core=com.github.asus4.onnxruntime@0.4.9
core_sum=e59788788818fdde1b2e522e766a21ba0f7d8391de55737abf81e32cc801785d
gpu=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
gpu_sum=2b459e0c17f340c92970c10ed86de4f37a3009f93c14053e6ad4334cbb6be412

# file, package, sha256 (the providers_shared of the GPU package, which was
# built with the providers it hosts)
files=(
  "libonnxruntime.so $core 5715f06d8992ca8eeeddcce43df3a7d38f97d537052126f558e912cb312460ca"
  "libonnxruntime_providers_shared.so $gpu c6a12593396095f5670160e284c35d1700b7708cf3037b7042e2a5200ccae772"
  "libonnxruntime_providers_cuda.so $gpu 56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037"
  "libonnxruntime_providers_tensorrt.so $gpu ef6071798a339038ad66c428fb1a809cf8e499bffc3b6870e4e8bc4f4c6a6320"
)

sum_of() { sha256sum "$1" | cut -d' ' -f1; }

# present says whether every file is installed with its sum.
present() {
  local name pkg sum
  for f in "${files[@]}"; do
    read -r name pkg sum <<<"$f"
    [ -f "$dest/$name" ] && [ "$(sum_of "$dest/$name")" = "$sum" ] || return 1
  done
}

if present; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is not installed; it is needed to fetch $core and $gpu" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fetch packs one package into $work/<name>/ and checks its tarball.
fetch() {
  local spec=$1 want=$2 out="$work/${1%@*}"
  mkdir -p "$out"
  echo "fetching $spec" >&2
  (cd "$out" && npm pack --silent "$spec" >/dev/null)
  local got
  got=$(sum_of "$out"/*.tgz)
  if [ "$got" != "$want" ]; then
    echo "error: $spec tarball sha256 is $got, expected $want" >&2
    exit 1
  fi
}

fetch "$core" "$core_sum"
fetch "$gpu" "$gpu_sum"
mkdir -p "$dest"
for f in "${files[@]}"; do
  read -r name pkg sum <<<"$f"
  out="$work/${pkg%@*}"
  tar -xzf "$out"/*.tgz -C "$out" "$dir/$name"
  got=$(sum_of "$out/$dir/$name")
  if [ "$got" != "$sum" ]; then
    echo "error: $dir/$name from $pkg has sha256 $got, expected $sum" >&2
    exit 1
  fi
  # Rename within the destination folder so a reader never sees half a file.
  cp "$out/$dir/$name" "$dest/$name.tmp.$$"
  mv "$dest/$name.tmp.$$" "$dest/$name"
  echo "installed $dest/$name" >&2
done
