package grpcserver_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluice-serving/sluice/grpcserver"
	"github.com/sluice-serving/sluice/server"
	"github.com/sluice-serving/sluice/tritonpb"
)

// shmObject makes a POSIX shared-memory object of size bytes (what
// shm_open creates, under /dev/shm) and returns its key and its file.
func shmObject(t *testing.T, size int) (string, string) {
	t.Helper()
	key := "/sluice-test-" + strings.ReplaceAll(t.Name(), "/", "-")
	path := filepath.Join("/dev/shm", key[1:])
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return key, path
}

func param(s string) *tritonpb.InferParameter {
	return &tritonpb.InferParameter{ParameterChoice: &tritonpb.InferParameter_StringParam{StringParam: s}}
}

func iparam(n int64) *tritonpb.InferParameter {
	return &tritonpb.InferParameter{ParameterChoice: &tritonpb.InferParameter_Int64Param{Int64Param: n}}
}

// TestSystemSharedMemory: inputs read from a registered region and outputs
// written into one answer as the same call with raw contents does.
func TestSystemSharedMemory(t *testing.T) {
	f := start(t, server.DefaultConfig(), nil, "student-success")
	ctx := callCtx(t)
	in := features(2) // 64 bytes
	key, path := shmObject(t, 4096+8+len(in)+64)
	f0, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f0.WriteAt(in, 4096+8); err != nil {
		t.Fatal(err)
	}
	f0.Close()
	// Offset past a page, so the mapping's alignment is exercised.
	if _, err := f.grpc.SystemSharedMemoryRegister(ctx, &tritonpb.SystemSharedMemoryRegisterRequest{Name: "io", Key: key, Offset: 4096, ByteSize: uint64(8 + len(in) + 64)}); err != nil {
		t.Fatal(err)
	}
	var st *tritonpb.SystemSharedMemoryStatusResponse
	st, err = f.grpc.SystemSharedMemoryStatus(ctx, &tritonpb.SystemSharedMemoryStatusRequest{})
	if err != nil || st.Regions["io"].GetKey() != key || st.Regions["io"].GetOffset() != 4096 {
		t.Fatalf("status: %v, %v", st, err)
	}
	req := &tritonpb.ModelInferRequest{ModelName: "student-success",
		Inputs: []*tritonpb.ModelInferRequest_InferInputTensor{{Name: "features", Datatype: "FP32", Shape: []int64{2, 8},
			Parameters: map[string]*tritonpb.InferParameter{"shared_memory_region": param("io"), "shared_memory_offset": iparam(8), "shared_memory_byte_size": iparam(int64(len(in)))}}},
		Outputs: []*tritonpb.ModelInferRequest_InferRequestedOutputTensor{{Name: "probability",
			Parameters: map[string]*tritonpb.InferParameter{"shared_memory_region": param("io"), "shared_memory_offset": iparam(int64(8 + len(in))), "shared_memory_byte_size": iparam(64)}},
			{Name: "label"}}}
	resp, err := f.grpc.ModelInfer(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want, err := f.grpc.ModelInfer(ctx, studentCall("", 2))
	if err != nil {
		t.Fatal(err)
	}
	mem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prob := mem[4096+8+len(in) : 4096+8+len(in)+8]
	if !bytes.Equal(prob, want.RawOutputContents[0]) || len(resp.RawOutputContents[0]) != 0 || !bytes.Equal(resp.RawOutputContents[1], want.RawOutputContents[1]) {
		t.Errorf("probability in shared memory %x, want %x; raw entries %x", prob, want.RawOutputContents[0], resp.RawOutputContents)
	}
	if got := resp.Outputs[0].Parameters["shared_memory_byte_size"].GetInt64Param(); got != 8 {
		t.Errorf("the output's shared_memory_byte_size: %d, want 8", got)
	}
	if _, err := f.grpc.SystemSharedMemoryUnregister(ctx, &tritonpb.SystemSharedMemoryUnregisterRequest{Name: "io"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.grpc.ModelInfer(ctx, req); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `region "io" is not registered`) {
		t.Errorf("a call naming an unregistered region: %v", err)
	}
	bad := []*tritonpb.SystemSharedMemoryRegisterRequest{
		{Name: "x", Key: "no-slash", ByteSize: 8},
		{Name: "x", Key: key, Offset: 1 << 20, ByteSize: 8},
		{Name: "x", Key: "/sluice-test-absent", ByteSize: 8},
	}
	for _, b := range bad {
		if _, err := f.grpc.SystemSharedMemoryRegister(ctx, b); status.Code(err) != codes.InvalidArgument {
			t.Errorf("register %v: %v, want InvalidArgument", b, err)
		}
	}
}

// TestSettingsAndCUDA: the settings calls answer what Sluice does; CUDA
// shared memory is refused naming the alternative.
func TestSettingsAndCUDA(t *testing.T) {
	level := new(slog.LevelVar)
	f := start(t, server.DefaultConfig(), func(c *grpcserver.Config) { c.LogLevel = level }, "student-success")
	ctx := callCtx(t)
	if _, err := f.grpc.CudaSharedMemoryRegister(ctx, &tritonpb.CudaSharedMemoryRegisterRequest{Name: "g", RawHandle: make([]byte, 64), ByteSize: 1024}); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "system shared memory") {
		t.Errorf("CUDA register: %v", err)
	}
	for _, bad := range []*tritonpb.CudaSharedMemoryRegisterRequest{
		{RawHandle: make([]byte, 64), ByteSize: 1},
		{Name: "g", RawHandle: make([]byte, 8), ByteSize: 1},
		{Name: "g", RawHandle: make([]byte, 64)},
		{Name: "g", RawHandle: make([]byte, 64), ByteSize: 1, DeviceId: -1},
	} {
		if _, err := f.grpc.CudaSharedMemoryRegister(ctx, bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("CUDA register %v: %v, want InvalidArgument", bad, err)
		}
	}
	if st, err := f.grpc.CudaSharedMemoryStatus(ctx, &tritonpb.CudaSharedMemoryStatusRequest{}); err != nil || len(st.Regions) != 0 {
		t.Errorf("CUDA status: %v, %v", st, err)
	}
	tr, err := f.grpc.TraceSetting(ctx, &tritonpb.TraceSettingRequest{})
	if err != nil || tr.Settings["trace_level"].GetValue()[0] != "OFF" {
		t.Errorf("trace settings: %v, %v", tr, err)
	}
	if _, err := f.grpc.TraceSetting(ctx, &tritonpb.TraceSettingRequest{Settings: map[string]*tritonpb.TraceSettingRequest_SettingValue{"trace_level": {Value: []string{"TIMESTAMPS"}}}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("turning tracing on: %v", err)
	}
	verbose := &tritonpb.LogSettingsRequest_SettingValue{ParameterChoice: &tritonpb.LogSettingsRequest_SettingValue_Uint32Param{Uint32Param: 1}}
	ls, err := f.grpc.LogSettings(ctx, &tritonpb.LogSettingsRequest{Settings: map[string]*tritonpb.LogSettingsRequest_SettingValue{"log_verbose_level": verbose}})
	if err != nil || level.Level() != slog.LevelDebug || ls.Settings["log_verbose_level"].GetUint32Param() != 1 {
		t.Errorf("verbose logging: level %v, %v, %v", level.Level(), ls, err)
	}
	off := &tritonpb.LogSettingsRequest_SettingValue{ParameterChoice: &tritonpb.LogSettingsRequest_SettingValue_BoolParam{BoolParam: false}}
	ls, err = f.grpc.LogSettings(ctx, &tritonpb.LogSettingsRequest{Settings: map[string]*tritonpb.LogSettingsRequest_SettingValue{"log_info": off, "log_warning": off,
		"log_verbose_level": {ParameterChoice: &tritonpb.LogSettingsRequest_SettingValue_Uint32Param{Uint32Param: 0}}}})
	if err != nil || level.Level() != slog.LevelError || ls.Settings["log_info"].GetBoolParam() {
		t.Errorf("errors only: level %v, %v, %v", level.Level(), ls, err)
	}
	if _, err := f.grpc.LogSettings(ctx, &tritonpb.LogSettingsRequest{Settings: map[string]*tritonpb.LogSettingsRequest_SettingValue{"log_file": {ParameterChoice: &tritonpb.LogSettingsRequest_SettingValue_StringParam{StringParam: "/tmp/x"}}}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a log file: %v", err)
	}
}
