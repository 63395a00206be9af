package onnxpb

// onnx.pb.go is committed: build and tests never run protoc. After editing
// onnx.proto, regenerate it with protoc (Debian: protobuf-compiler) and
// protoc-gen-go at the version go.mod requires for google.golang.org/protobuf
// (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12) on PATH:
//
//	go generate ./pipeline/onnx/onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative onnx.proto
