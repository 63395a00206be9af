#!/usr/bin/env bash
# Stages, on a networked machine, everything scripts/gpu-check.sh needs on a
# GPU host without a network, under STAGE (default .cache/gpu-check):
#
#   ort/       the GPU build of ONNX Runtime (make ort-gpu); files over
#              60 MiB (the CUDA provider) as NAME.part-00, -01, ... made by
#              split; SHA256SUMS holds the sums of the whole files
#   bin/       sluice, and gputest.test (go test -c -tags gpu ./runtime/gputest)
#   models/    the PP-OCR classifier (make models)
#   STAGED     what was staged, from which commit
#
# It checks every part is at most 60 MiB and that joining the parts gives
# back files with the staged sums. No file it stages is over 60 MiB.
#
# usage: scripts/stage-gpu-check.sh [STAGE]
set -euo pipefail
cd "$(dirname "$0")/.."

stage=${1:-.cache/gpu-check}
part=$((60 * 1024 * 1024))
version=1.29.0
ortdir=.cache/onnxruntime-gpu/$version

scripts/fetch-ort-gpu.sh
scripts/fetch-models.sh

work="$stage.tmp.$$"
rm -rf "$work"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ort" "$work/bin" "$work/models/ppocr-cls/1"

echo "building sluice and the GPU test binary" >&2
CGO_ENABLED=1 go build -o "$work/bin/sluice" ./cmd/sluice
CGO_ENABLED=1 go test -c -tags gpu -o "$work/bin/gputest.test" ./runtime/gputest
cp models/ppocr-cls/1/model.onnx "$work/models/ppocr-cls/1/model.onnx"

# Whole files' sums first, then each library whole or in parts.
(cd "$ortdir" && sha256sum -- *.so) >"$work/ort/SHA256SUMS"
for f in "$ortdir"/*.so; do
  name=$(basename "$f")
  if [ "$(stat -c %s "$f")" -gt "$part" ]; then
    split -b "$part" -d -a 2 "$f" "$work/ort/$name.part-"
  else
    cp "$f" "$work/ort/$name"
  fi
done

# Every staged file within the limit.
big=$(find "$work" -type f -size +"$part"c)
if [ -n "$big" ]; then
  echo "error: staged files over 60 MiB: $big" >&2
  exit 1
fi

# Round trip: join the parts as gpu-check.sh does and compare the sums.
check="$work/joined"
mkdir -p "$check"
while read -r _ name; do
  if [ -f "$work/ort/$name" ]; then
    cp "$work/ort/$name" "$check/$name"
  else
    cat "$work/ort/$name".part-* >"$check/$name"
  fi
done <"$work/ort/SHA256SUMS"
(cd "$check" && sha256sum --quiet -c "../ort/SHA256SUMS")
rm -rf "$check"

{
  echo "staged $(date -u +%Y-%m-%dT%H:%M:%SZ) from commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
  echo "onnx runtime $version (com.github.asus4.onnxruntime 0.4.9 + linux-x64-gpu 0.4.9)"
  go version
} >"$work/STAGED"

rm -rf "$stage"
mv "$work" "$stage"
trap - EXIT
echo "staged in $stage:" >&2
(cd "$stage" && find . -type f -printf '%s\t%p\n' | sort -k2) >&2
