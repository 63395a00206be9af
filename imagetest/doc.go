// Package imagetest checks a running Sluice container from outside, through
// the Go client only: readiness, model metadata and real inference on the
// example models (student-success and ppocr-cls), in JSON and binary
// tensors. Its tests carry the build tag imagetest, so `go test ./...`
// leaves them out; `make image-test` (scripts/image-test.sh) builds the
// image, starts it with models/ mounted and its port published on
// 127.0.0.1, and runs them with -url.
package imagetest
