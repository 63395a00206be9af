package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/rollout"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/server"
	"github.com/sluice-serving/sluice/tensor"
)

// serveFixture serves one committed fixture on a loopback port.
func serveFixture(t *testing.T, name string) string {
	ortest.Init(t)
	repo := t.TempDir()
	b, err := os.ReadFile(ortest.Fixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(repo, name, "1"), 0o755)
	os.WriteFile(filepath.Join(repo, name, "1", "model.onnx"), b, 0o644)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := registry.DefaultConfig()
	cfg.Path = repo
	promReg := prometheus.NewRegistry()
	reg, err := registry.New(cfg, log, promReg)
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := rollout.New(reg, filepath.Join(repo, ".sluice"), log, promReg)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.LoadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		server.New(server.DefaultConfig(), reg, ctl, promReg, log).Serve(ctx, ln, time.Second)
	}()
	t.Cleanup(func() { cancel(); <-done; reg.Close(context.Background()) })
	return "http://" + ln.Addr().String()
}

func TestInferJSONAndBinaryRoundTrip(t *testing.T) {
	c := client.New(serveFixture(t, "alltypes"), 4)
	ctx := context.Background()
	meta, err := c.ModelMetadata(ctx, "alltypes", "")
	if err != nil || len(meta.Inputs) != 13 {
		t.Fatalf("metadata: %+v %v", meta, err)
	}
	var inputs []tensor.Tensor
	for i, in := range meta.Inputs {
		dt, _ := tensor.ParseDataType(in.DataType)
		t0 := tensor.Tensor{Name: in.Name, DataType: dt, Shape: []int64{2, 3}}
		for k := range 6 {
			switch dt {
			case tensor.Bytes:
				t0.Data = tensor.AppendBytesElement(t0.Data, []byte{'a' + byte(k)})
			case tensor.FP32:
				t0.Data = binary.LittleEndian.AppendUint32(t0.Data, math.Float32bits(float32(k)+0.5))
			case tensor.FP64:
				t0.Data = binary.LittleEndian.AppendUint64(t0.Data, math.Float64bits(float64(k)+0.25))
			case tensor.FP16:
				t0.Data = binary.LittleEndian.AppendUint16(t0.Data, tensor.HalfFromFloat32(float32(k)))
			case tensor.Bool:
				t0.Data = append(t0.Data, byte(k%2))
			default:
				t0.Data = append(t0.Data, make([]byte, dt.Size())...)
				t0.Data[len(t0.Data)-dt.Size()] = byte(k + i)
			}
		}
		inputs = append(inputs, t0)
	}
	for _, bin := range []bool{false, true} {
		resp, err := c.Infer(ctx, "alltypes", "", inputs, client.Options{Binary: bin})
		if err != nil {
			t.Fatalf("binary=%v: %v", bin, err)
		}
		for i, out := range resp.Outputs {
			if !bytes.Equal(out.Data, inputs[i].Data) {
				t.Errorf("binary=%v %s: got %v, want %v", bin, out.Name, out.Data, inputs[i].Data)
			}
		}
	}
	stats, err := c.Stats(ctx, "alltypes")
	if err != nil || len(stats) != 1 || stats[0].InferenceStats.Success.Count != 2 {
		t.Errorf("stats: %+v %v", stats, err)
	}
	idx, err := c.Index(ctx, false)
	if err != nil || len(idx) != 1 || idx[0].State != "READY" {
		t.Errorf("index: %+v %v", idx, err)
	}
	_, err = c.Infer(ctx, "alltypes", "", inputs[:1], client.Options{})
	if se, ok := err.(*client.StatusError); !ok || se.Status != 400 {
		t.Errorf("missing inputs: %v", err)
	}
}
