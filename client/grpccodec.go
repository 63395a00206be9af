package client

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// The load loop's codec: a prepared request is encoded once and sent as
// those bytes every time, and the reply, whose status and metadata are all
// a load loop counts, is not decoded. A gRPC caller then costs the client
// what a prepared HTTP request does, no encoding per call.

// encoded is a message already in its wire form.
type encoded struct{ b []byte }

// discarded is a reply the caller does not read.
type discarded struct{}

// preEncodedCodec sends encoded messages and drops replies into discarded.
// Its name is "proto", so the server reads the call as any protobuf call.
type preEncodedCodec struct{}

var _ encoding.CodecV2 = preEncodedCodec{}

func (preEncodedCodec) Marshal(v any) (mem.BufferSlice, error) {
	e, ok := v.(*encoded)
	if !ok {
		return nil, fmt.Errorf("the prepared-call codec sends *encoded messages, not %T", v)
	}
	// A SliceBuffer's Free does nothing: the bytes stay the prepared
	// call's, read by every call that sends them.
	return mem.BufferSlice{mem.SliceBuffer(e.b)}, nil
}

func (preEncodedCodec) Unmarshal(_ mem.BufferSlice, v any) error {
	if _, ok := v.(*discarded); !ok {
		return fmt.Errorf("the prepared-call codec decodes into *discarded, not %T", v)
	}
	return nil
}

func (preEncodedCodec) Name() string { return "proto" }
