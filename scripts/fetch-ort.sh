#!/usr/bin/env bash
# Installs the official ONNX Runtime shared library (linux x64) shipped inside
# the onnxruntime-node npm package into .cache/onnxruntime/<version>/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/fetch-npm-file.sh \
  onnxruntime-node@1.30.0 \
  6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75 \
  package/bin/napi-v6/linux/x64/libonnxruntime.so.1 \
  ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23 \
  .cache/onnxruntime/1.30.0/libonnxruntime.so.1
