package client_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/grpcserver/grpctest"
	"github.com/sluice-serving/sluice/server"
	"github.com/sluice-serving/sluice/tensor"
)

// doors is both front doors over one registry serving the repository's
// student-success, on loopback ports the OS chose, and a client of each.
type doors struct {
	http *client.Client
	grpc *client.GRPC
}

// serveBoth serves student-success with the HTTP configuration hc, whose
// limits and rate buckets the gRPC door shares.
func serveBoth(t testing.TB, hc server.Config) doors {
	t.Helper()
	srv := grpctest.Serve(t, hc, nil, map[string]string{"student-success": "models/student-success"})
	g, err := client.DialGRPC(srv.GRPCAddr, 2)
	if err != nil {
		t.Fatal(err)
	}
	d := doors{http: client.New("http://"+srv.HTTPAddr, 4), grpc: g}
	t.Cleanup(func() {
		d.http.CloseIdle()
		if err := g.Close(); err != nil {
			t.Errorf("closing the gRPC client: %v", err)
		}
	})
	return d
}

func listen(t testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// students is rows rows of student-success's eight features.
func students(rows int) []tensor.Tensor {
	var b []byte
	for i := range rows * 8 {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(i%8)/8+float32(i/8)/16))
	}
	return []tensor.Tensor{{Name: "features", DataType: tensor.FP32, Shape: []int64{int64(rows), 8}, Data: b}}
}

// TestGRPCInferMatchesHTTP: the same call over both doors answers the same
// tensors, for every output and for a chosen one, and the metadata and
// statistics read over gRPC are HTTP's.
func TestGRPCInferMatchesHTTP(t *testing.T) {
	d := serveBoth(t, server.DefaultConfig())
	ctx := callCtx(t)
	if err := d.grpc.Ready(ctx); err != nil {
		t.Fatalf("Ready over gRPC: %v", err)
	}
	for _, tt := range []struct {
		name    string
		version string
		opt     client.Options
		outputs int
	}{
		{"every output", "", client.Options{}, 2},
		{"version 2, label only", "2", client.Options{Outputs: []string{"label"}}, 1},
		{"routing key", "", client.Options{RoutingKey: "user-7"}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want, err := d.http.Infer(ctx, "student-success", tt.version, students(3), client.Options{Binary: true, Outputs: tt.opt.Outputs, RoutingKey: tt.opt.RoutingKey})
			if err != nil {
				t.Fatalf("over HTTP: %v", err)
			}
			got, err := d.grpc.Infer(ctx, "student-success", tt.version, students(3), tt.opt)
			if err != nil {
				t.Fatalf("over gRPC: %v", err)
			}
			if len(got.Outputs) != tt.outputs || !reflect.DeepEqual(got, want) {
				t.Errorf("over gRPC %+v\nover HTTP %+v", got, want)
			}
		})
	}
	hm, herr := d.http.ModelMetadata(ctx, "student-success", "")
	gm, gerr := d.grpc.ModelMetadata(ctx, "student-success", "")
	if herr != nil || gerr != nil || !reflect.DeepEqual(gm, hm) {
		t.Errorf("metadata over gRPC %+v (%v), over HTTP %+v (%v)", gm, gerr, hm, herr)
	}
	hs, herr := d.http.Stats(ctx, "student-success")
	gs, gerr := d.grpc.Stats(ctx, "student-success")
	if herr != nil || gerr != nil || !reflect.DeepEqual(gs, hs) || len(gs) != 2 || gs[0].InferenceStats.Success.Count+gs[1].InferenceStats.Success.Count != 6 {
		t.Errorf("stats over gRPC %+v (%v), over HTTP %+v (%v); want 6 calls", gs, gerr, hs, herr)
	}
}

// TestGRPCErrorsCarryCodeAndMessage: a refused call is an *RPCError with
// the code of its kind, HTTP's message, and HTTP's status for the code.
func TestGRPCErrorsCarryCodeAndMessage(t *testing.T) {
	d := serveBoth(t, server.DefaultConfig())
	ctx := callCtx(t)
	short := students(1)
	short[0].Shape, short[0].Data = []int64{1, 4}, short[0].Data[:16]
	for _, tt := range []struct {
		name, model string
		inputs      []tensor.Tensor
		code        codes.Code
	}{
		{"unknown model", "no-such-model", students(1), codes.NotFound},
		{"wrong shape", "student-success", short, codes.InvalidArgument},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, herr := d.http.Infer(ctx, tt.model, "", tt.inputs, client.Options{Binary: true})
			var se *client.StatusError
			if !errors.As(herr, &se) {
				t.Fatalf("over HTTP: %v, want a StatusError", herr)
			}
			_, gerr := d.grpc.Infer(ctx, tt.model, "", tt.inputs, client.Options{})
			var re *client.RPCError
			if !errors.As(gerr, &re) {
				t.Fatalf("over gRPC: %v, want an RPCError", gerr)
			}
			if re.Code != tt.code || re.Message != se.Message || re.HTTPStatus() != se.Status {
				t.Errorf("over gRPC %v (HTTP status %d); over HTTP %v; want code %v and HTTP's message", re, re.HTTPStatus(), se, tt.code)
			}
		})
	}
	if _, err := d.grpc.Infer(ctx, "student-success", "", students(1), client.Options{Parameters: map[string]any{"p": []int{1}}}); err == nil || !strings.Contains(err.Error(), `parameter "p": a []int`) {
		t.Errorf("a parameter gRPC cannot carry: %v", err)
	}
}

// TestGRPCCallerCounts: the load harness's path counts an answer by the
// status HTTP gives it, a rate-limit refusal as 429, and a call the server
// never answered as an error.
func TestGRPCCallerCounts(t *testing.T) {
	hc := server.DefaultConfig()
	hc.ModelRateLimits = map[string]server.RateLimit{"student-success": {Rate: 0.001, Burst: 2}} // two calls, then none for 1,000 s
	d := serveBoth(t, hc)
	call := func(model string, deadline time.Time) (client.Result, error) {
		p, err := d.grpc.Prepare(model, "", students(2), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return d.grpc.NewCaller(p).Call(deadline)
	}
	soon := time.Now().Add(30 * time.Second)
	for i, want := range []client.Result{{Status: 200, Version: "1"}, {Status: 200, Version: "1"}, {Status: 429}} {
		if got, err := call("student-success", soon); err != nil || got != want {
			t.Errorf("call %d: %+v, %v; want %+v", i+1, got, err, want)
		}
	}
	if got, err := call("no-such-model", soon); err != nil || got.Status != 404 {
		t.Errorf("unknown model: %+v, %v; want 404", got, err)
	}
	if got, err := call("no-such-model", time.Now()); err == nil {
		t.Errorf("a call past its deadline: %+v, want an error", got)
	}
	p, err := d.http.Prepare("student-success", "", students(1), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.grpc.NewCaller(p).Call(soon); err == nil || !strings.Contains(err.Error(), "prepared for http sent over gRPC") {
		t.Errorf("an HTTP request sent over gRPC: %+v, %v", got, err)
	}
}

// TestGRPCNoServer: a refused connection is the transport's error, not an
// answer, and CloseIdle leaves the client usable.
func TestGRPCNoServer(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	g, err := client.DialGRPC(addr, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	p, err := g.Prepare("m", "", students(1), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		res, err := g.NewCaller(p).Call(time.Now().Add(10 * time.Second))
		var re *client.RPCError
		if err == nil || errors.As(err, &re) {
			t.Errorf("a call with no server: %+v, %v; want a transport error", res, err)
		}
		g.CloseIdle()
	}
	if _, err := client.DialGRPC("no-port", 1); err == nil {
		t.Error("DialGRPC took an address with no port")
	}
}

// BenchmarkCaller is the load harness's hot loop over each transport
// against real student-success, one row a call, from parallel callers:
// what a call costs the harness and the server together on loopback.
func BenchmarkCaller(b *testing.B) {
	d := serveBoth(b, server.DefaultConfig())
	for _, tr := range []struct {
		name string
		t    interface {
			Prepare(model, version string, inputs []tensor.Tensor, opt client.Options) (*client.Prepared, error)
			NewCaller(p *client.Prepared) *client.Caller
		}
	}{{"http", d.http}, {"grpc", d.grpc}} {
		b.Run(tr.name, func(b *testing.B) {
			p, err := tr.t.Prepare("student-success", "", students(1), client.Options{Binary: true})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				k := tr.t.NewCaller(p)
				for pb.Next() {
					if res, err := k.Call(time.Now().Add(30 * time.Second)); err != nil || res.Status != 200 {
						b.Errorf("call: %+v, %v", res, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}
