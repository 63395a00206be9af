//go:build imagetest

package imagetest

import (
	"context"
	"encoding/binary"
	"flag"
	"math"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/tensor"
)

var (
	baseURL   = flag.String("url", "", "base URL of the container under test, such as http://127.0.0.1:40123 (make image-test passes it)")
	grpcAddr  = flag.String("grpc-addr", "", "host:port of the container's published gRPC port (make image-test passes it)")
	readyWait = flag.Duration("ready-wait", 2*time.Minute, "how long the container may take to become ready")
)

// connect returns a client of the container, once it answers ready.
func connect(t *testing.T) *client.Client {
	t.Helper()
	if *baseURL == "" {
		t.Fatal("-url is not set: run `make image-test`, which starts the container and passes it")
	}
	c := client.New(*baseURL, 4)
	ctx, cancel := context.WithTimeout(context.Background(), *readyWait)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		err := c.Ready(ctx)
		if err == nil {
			return c
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not ready within %v: %v", *baseURL, *readyWait, err)
		case <-tick.C:
		}
	}
}

func fp32Tensor(name string, shape []int64, vals []float32) tensor.Tensor {
	b := make([]byte, 0, 4*len(vals))
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return tensor.Tensor{Name: name, DataType: tensor.FP32, Shape: shape, Data: b}
}

// output finds an output by name and checks its type and shape.
func output(t *testing.T, r *tensor.Response, name string, dt tensor.DataType, shape []int64) tensor.Tensor {
	t.Helper()
	for _, o := range r.Outputs {
		if o.Name != name {
			continue
		}
		if o.DataType != dt || !tensor.SameShape(o.Shape, shape) {
			t.Fatalf("output %q is %s %v, want %s %v", name, o.DataType, o.Shape, dt, shape)
		}
		return o
	}
	t.Fatalf("no output %q in the answer (%d outputs)", name, len(r.Outputs))
	return tensor.Tensor{}
}

func fp32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func int64s(b []byte) []int64 {
	out := make([]int64, len(b)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out
}

// encodings are the two ways each model is asked.
var encodings = []struct {
	name string
	opt  client.Options
}{
	{"json", client.Options{}},
	{"binary", client.Options{Binary: true}},
}
