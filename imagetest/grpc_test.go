//go:build imagetest

package imagetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/tensor"
)

// TestGRPC calls the image's gRPC port (8001, published by make
// image-test) and gets the tensors its HTTP port gives.
func TestGRPC(t *testing.T) {
	c := connect(t)
	if *grpcAddr == "" {
		t.Fatal("-grpc-addr is not set: run `make image-test`, which publishes the gRPC port and passes it")
	}
	g, err := client.DialGRPC(*grpcAddr, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var vals []float32
	for _, r := range studentRows {
		vals = append(vals, r[:]...)
	}
	in := []tensor.Tensor{fp32Tensor("features", []int64{2, 8}, vals)}
	h, err := c.Infer(ctx, "student-success", "2", in, client.Options{Binary: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := g.Infer(ctx, "student-success", "2", in, client.Options{})
	if err != nil {
		t.Fatalf("gRPC infer: %v", err)
	}
	if r.ModelVersion != "2" || len(r.Outputs) != len(h.Outputs) {
		t.Fatalf("gRPC: version %s, %d outputs; HTTP: %d outputs", r.ModelVersion, len(r.Outputs), len(h.Outputs))
	}
	for i, o := range r.Outputs {
		if o.Name != h.Outputs[i].Name || !bytes.Equal(o.Data, h.Outputs[i].Data) {
			t.Errorf("output %s over gRPC: %x; over HTTP %s: %x", o.Name, o.Data, h.Outputs[i].Name, h.Outputs[i].Data)
		}
	}
}
