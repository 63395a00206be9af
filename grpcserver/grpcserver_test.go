package grpcserver_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluice-serving/sluice/server"
	"github.com/sluice-serving/sluice/tritonpb"
)

// features is rows rows of student-success's eight features, as raw FP32.
func features(rows int) []byte {
	var b []byte
	for i := range rows * 8 {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(i%8)/8))
	}
	return b
}

func studentCall(id string, rows int) *tritonpb.ModelInferRequest {
	return &tritonpb.ModelInferRequest{ModelName: "student-success", Id: id,
		Inputs:           []*tritonpb.ModelInferRequest_InferInputTensor{{Name: "features", Datatype: "FP32", Shape: []int64{int64(rows), 8}}},
		RawInputContents: [][]byte{features(rows)}}
}

func TestEveryMethod(t *testing.T) {
	f := start(t, server.DefaultConfig(), nil, "student-success")
	ctx := callCtx(t)
	c := f.grpc

	live, err := c.ServerLive(ctx, &tritonpb.ServerLiveRequest{})
	if err != nil || !live.Live {
		t.Errorf("ServerLive: %v, %v", live, err)
	}
	ready, err := c.ServerReady(ctx, &tritonpb.ServerReadyRequest{})
	if err != nil || !ready.Ready {
		t.Errorf("ServerReady: %v, %v", ready, err)
	}
	mr, err := c.ModelReady(ctx, &tritonpb.ModelReadyRequest{Name: "student-success"})
	if err != nil || !mr.Ready {
		t.Errorf("ModelReady(student-success): %v, %v", mr, err)
	}
	mr, err = c.ModelReady(ctx, &tritonpb.ModelReadyRequest{Name: "no-such-model"})
	if err != nil || mr.Ready {
		t.Errorf("ModelReady(no-such-model): %v, %v; want not ready and no error, as Triton answers", mr, err)
	}
	sm, err := c.ServerMetadata(ctx, &tritonpb.ServerMetadataRequest{})
	if err != nil || sm.Name != "sluice" || !slices.Contains(sm.Extensions, "model_configuration") {
		t.Errorf("ServerMetadata: %v, %v", sm, err)
	}
	meta, err := c.ModelMetadata(ctx, &tritonpb.ModelMetadataRequest{Name: "student-success"})
	if err != nil {
		t.Fatalf("ModelMetadata: %v", err)
	}
	if fmt.Sprint(meta.Versions) != "[1 2]" || meta.Platform != "onnxruntime_onnx" || len(meta.Inputs) != 1 ||
		meta.Inputs[0].Name != "features" || meta.Inputs[0].Datatype != "FP32" || fmt.Sprint(meta.Inputs[0].Shape) != "[-1 8]" {
		t.Errorf("ModelMetadata: %v", meta)
	}

	resp, err := c.ModelInfer(ctx, studentCall("call-1", 3))
	if err != nil {
		t.Fatalf("ModelInfer: %v", err)
	}
	if resp.Id != "call-1" || resp.ModelName != "student-success" || resp.ModelVersion != "1" || len(resp.Outputs) != 2 || len(resp.RawOutputContents) != 2 {
		t.Fatalf("ModelInfer: %v", resp)
	}
	for i, o := range resp.Outputs {
		size := map[string]int{"FP32": 4, "INT64": 8}[o.Datatype]
		if fmt.Sprint(o.Shape) != "[3 1]" || size == 0 || len(resp.RawOutputContents[i]) != 3*size {
			t.Errorf("output %s: %s %v with %d bytes", o.Name, o.Datatype, o.Shape, len(resp.RawOutputContents[i]))
		}
	}

	cfg, err := c.ModelConfig(ctx, &tritonpb.ModelConfigRequest{Name: "student-success", Version: "2"})
	if err != nil {
		t.Fatalf("ModelConfig: %v", err)
	}
	if mc := cfg.Config; mc.Name != "student-success" || mc.MaxBatchSize != 64 || len(mc.Input) != 1 ||
		fmt.Sprint(mc.Input[0].Dims) != "[8]" || mc.Input[0].DataType != tritonpb.DataType_TYPE_FP32 || mc.GetDynamicBatching() == nil {
		t.Errorf("ModelConfig: %v", mc)
	}

	stats, err := c.ModelStatistics(ctx, &tritonpb.ModelStatisticsRequest{Name: "student-success", Version: "1"})
	if err != nil || len(stats.ModelStats) != 1 {
		t.Fatalf("ModelStatistics: %v, %v", stats, err)
	}
	if st := stats.ModelStats[0]; st.InferenceCount < 3 || st.ExecutionCount < 1 || st.InferenceStats.Success.Count < 1 {
		t.Errorf("ModelStatistics after a call of 3 rows: %v", st)
	}
	all, err := c.ModelStatistics(ctx, &tritonpb.ModelStatisticsRequest{})
	if err != nil || len(all.ModelStats) != 2 {
		t.Errorf("ModelStatistics of everything: %v, %v; want both versions", all, err)
	}

	if n := callsCounted(t, f, "ModelInfer", "OK"); n != 1 {
		t.Errorf("sluice_grpc_calls_total{method=ModelInfer,code=OK} = %v after one call", n)
	}

	idx, err := c.RepositoryIndex(ctx, &tritonpb.RepositoryIndexRequest{Ready: true})
	if err != nil || len(idx.Models) != 2 || idx.Models[0].Name != "student-success" || idx.Models[0].State != "READY" {
		t.Errorf("RepositoryIndex: %v, %v", idx, err)
	}
	if _, err := c.RepositoryModelUnload(ctx, &tritonpb.RepositoryModelUnloadRequest{ModelName: "student-success"}); err != nil {
		t.Fatalf("RepositoryModelUnload: %v", err)
	}
	if mr, err := c.ModelReady(ctx, &tritonpb.ModelReadyRequest{Name: "student-success"}); err != nil || mr.Ready {
		t.Errorf("ModelReady after the unload: %v, %v", mr, err)
	}
	if _, err := c.RepositoryModelLoad(ctx, &tritonpb.RepositoryModelLoadRequest{ModelName: "student-success"}); err != nil {
		t.Fatalf("RepositoryModelLoad: %v", err)
	}
	if mr, err := c.ModelReady(ctx, &tritonpb.ModelReadyRequest{Name: "student-success", Version: "2"}); err != nil || !mr.Ready {
		t.Errorf("ModelReady after the load: %v, %v", mr, err)
	}
}

// TestStreamAnswersEveryRequest sends a stream with one bad request among
// good ones: every request gets its reply, matched by id, and the bad one
// its error while the stream goes on.
func TestStreamAnswersEveryRequest(t *testing.T) {
	f := start(t, server.DefaultConfig(), nil, "student-success")
	stream, err := f.grpc.ModelStreamInfer(callCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		req := studentCall(fmt.Sprintf("s-%02d", i), 1+i%4)
		if i == 7 {
			req.Inputs[0].Name = "feature"
		}
		if err := stream.Send(req); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		id := r.InferResponse.GetId()
		ids = append(ids, id)
		if id == "s-07" {
			if r.ErrorMessage == "" || !bytes.Contains([]byte(r.ErrorMessage), []byte(`input "feature": model "student-success" has no such input`)) {
				t.Errorf("the bad request's reply: %q", r.ErrorMessage)
			}
			continue
		}
		var rows int
		fmt.Sscanf(id, "s-%d", &rows)
		if r.ErrorMessage != "" || len(r.InferResponse.Outputs) != 2 || r.InferResponse.Outputs[0].Shape[0] != int64(1+rows%4) {
			t.Errorf("reply %s: %q %v", id, r.ErrorMessage, r.InferResponse)
		}
	}
	sort.Strings(ids)
	if len(ids) != n || ids[0] != "s-00" || ids[n-1] != fmt.Sprintf("s-%02d", n-1) || len(slices.Compact(ids)) != n {
		t.Errorf("replies %v, want one per request", ids)
	}
}

// TestSameTensorsAsHTTP sends one request through each door.
func TestSameTensorsAsHTTP(t *testing.T) {
	f := start(t, server.DefaultConfig(), nil, "student-success", "rowid")
	ctx := callCtx(t)
	for _, model := range []string{"student-success", "rowid"} {
		var req *tritonpb.ModelInferRequest
		if model == "student-success" {
			req = studentCall("same", 5)
		} else {
			var x []byte
			for i := range 12 {
				x = binary.LittleEndian.AppendUint32(x, math.Float32bits(float32(i)-3.5))
			}
			req = &tritonpb.ModelInferRequest{ModelName: "rowid", Inputs: []*tritonpb.ModelInferRequest_InferInputTensor{
				{Name: "x", Datatype: "FP32", Shape: []int64{3, 4}}}, RawInputContents: [][]byte{x}}
		}
		g, err := f.grpc.ModelInfer(ctx, req)
		if err != nil {
			t.Fatalf("%s over gRPC: %v", model, err)
		}
		h, err := httpCall(t, f, req)
		if err != nil {
			t.Fatalf("%s over HTTP: %v", model, err)
		}
		if len(h.Outputs) != len(g.Outputs) {
			t.Fatalf("%s: %d outputs over HTTP, %d over gRPC", model, len(h.Outputs), len(g.Outputs))
		}
		for i, o := range g.Outputs {
			ho := h.Outputs[i]
			if ho.Name != o.Name || ho.DataType.String() != o.Datatype || fmt.Sprint(ho.Shape) != fmt.Sprint(o.Shape) || !bytes.Equal(ho.Data, g.RawOutputContents[i]) {
				t.Errorf("%s output %s: HTTP %s %v %x, gRPC %s %v %x", model, o.Name, ho.DataType, ho.Shape, ho.Data, o.Datatype, o.Shape, g.RawOutputContents[i])
			}
		}
	}
}

func code(err error) codes.Code { return status.Code(err) }

// callsCounted reads sluice_grpc_calls_total for one method and code.
func callsCounted(t *testing.T, f *fixture, method, code string) float64 {
	return counted(t, f, "sluice_grpc_calls_total", map[string]string{"method": method, "code": code})
}

// counted reads the counter name with the given labels.
func counted(t *testing.T, f *fixture, name string, want map[string]string) float64 {
	t.Helper()
	families, err := f.gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
	metrics:
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
