package grpcserver

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// cudaIPCHandleBytes is the size of CUDA's cudaIpcMemHandle_t, which a
// client sends as raw_handle.
const cudaIPCHandleBytes = 64

// CudaSharedMemoryStatus lists CUDA regions: none can be registered.
func (s *Server) CudaSharedMemoryStatus(_ context.Context, in *tritonpb.CudaSharedMemoryStatusRequest) (*tritonpb.CudaSharedMemoryStatusResponse, error) {
	if in.Name != "" {
		return nil, tensor.Errorf(tensor.NotFound, "CUDA shared memory %q is not registered", in.Name)
	}
	return &tritonpb.CudaSharedMemoryStatusResponse{}, nil
}

// CudaSharedMemoryRegister checks the request as Triton does and then
// refuses the region: opening another process's device memory takes CUDA
// IPC, and Sluice's runtime hands ONNX Runtime host memory only, so a
// registered CUDA region could never be read. The refusal names what works
// instead, so a client can switch at once.
func (s *Server) CudaSharedMemoryRegister(_ context.Context, in *tritonpb.CudaSharedMemoryRegisterRequest) (*tritonpb.CudaSharedMemoryRegisterResponse, error) {
	switch {
	case in.Name == "":
		return nil, tensor.Errorf(tensor.InvalidArgument, "CUDA shared memory: name is empty, expected the region's name")
	case len(in.RawHandle) != cudaIPCHandleBytes:
		return nil, tensor.Errorf(tensor.InvalidArgument, "CUDA shared memory %q: raw_handle has %d bytes, expected a %d-byte cudaIpcMemHandle_t", in.Name, len(in.RawHandle), cudaIPCHandleBytes)
	case in.ByteSize == 0:
		return nil, tensor.Errorf(tensor.InvalidArgument, "CUDA shared memory %q: byte_size is 0, expected the region's size", in.Name)
	case in.DeviceId < 0:
		return nil, tensor.Errorf(tensor.InvalidArgument, "CUDA shared memory %q: device_id %d, expected a GPU index from 0", in.Name, in.DeviceId)
	}
	return nil, status.Errorf(codes.FailedPrecondition, "CUDA shared memory %q on device %d: this server maps no CUDA device memory of other processes (CUDA IPC), as its runtime reads inputs from host memory; register the tensors in system shared memory or send them in the request", in.Name, in.DeviceId)
}

// CudaSharedMemoryUnregister succeeds for "every region" (there are none)
// and is NotFound for a named one.
func (s *Server) CudaSharedMemoryUnregister(_ context.Context, in *tritonpb.CudaSharedMemoryUnregisterRequest) (*tritonpb.CudaSharedMemoryUnregisterResponse, error) {
	if in.Name != "" {
		return nil, tensor.Errorf(tensor.NotFound, "CUDA shared memory %q is not registered", in.Name)
	}
	return &tritonpb.CudaSharedMemoryUnregisterResponse{}, nil
}

// TraceSetting reports Sluice's tracing: Triton's trace files are not
// written (the access log, server.access_log, records every call with its
// request id instead), so the trace level is OFF and may only be set so.
func (s *Server) TraceSetting(ctx context.Context, in *tritonpb.TraceSettingRequest) (*tritonpb.TraceSettingResponse, error) {
	if len(in.Settings) > 0 {
		if err := s.admin(ctx); err != nil {
			return nil, err
		}
	}
	for k, v := range in.Settings {
		if k != "trace_level" || len(v.GetValue()) != 1 || v.GetValue()[0] != "OFF" {
			return nil, tensor.Errorf(tensor.InvalidArgument, "trace setting %q %v: Sluice writes no Triton traces; expected trace_level [OFF]. Its access log (server.access_log) records each call with its x-request-id", k, v.GetValue())
		}
	}
	return &tritonpb.TraceSettingResponse{Settings: map[string]*tritonpb.TraceSettingResponse_SettingValue{
		"trace_level": {Value: []string{"OFF"}},
		"trace_file":  {Value: []string{""}},
	}}, nil
}

// LogSettings reads and sets the process log's level through Triton's
// settings: log_error is always on, log_warning and log_info switch their
// levels, log_verbose_level above 0 is debug. Logs go to standard error
// in the configured format, so log_file may only be empty and log_format
// only "default". Changes take the admin token.
func (s *Server) LogSettings(ctx context.Context, in *tritonpb.LogSettingsRequest) (*tritonpb.LogSettingsResponse, error) {
	if len(in.Settings) > 0 {
		if err := s.admin(ctx); err != nil {
			return nil, err
		}
		if s.cfg.LogLevel == nil {
			return nil, tensor.Errorf(tensor.InvalidArgument, "this server's log level is fixed; it cannot be set through LogSettings")
		}
		level, err := logLevel(s.cfg.LogLevel.Level(), in.Settings)
		if err != nil {
			return nil, err
		}
		s.cfg.LogLevel.Set(level)
		s.log.Info("log level set through LogSettings", "level", level.String())
	}
	level := slog.LevelInfo
	if s.cfg.LogLevel != nil {
		level = s.cfg.LogLevel.Level()
	}
	b := func(v bool) *tritonpb.LogSettingsResponse_SettingValue {
		return &tritonpb.LogSettingsResponse_SettingValue{ParameterChoice: &tritonpb.LogSettingsResponse_SettingValue_BoolParam{BoolParam: v}}
	}
	verbose := uint32(0)
	if level <= slog.LevelDebug {
		verbose = 1
	}
	return &tritonpb.LogSettingsResponse{Settings: map[string]*tritonpb.LogSettingsResponse_SettingValue{
		"log_file":          {ParameterChoice: &tritonpb.LogSettingsResponse_SettingValue_StringParam{StringParam: ""}},
		"log_format":        {ParameterChoice: &tritonpb.LogSettingsResponse_SettingValue_StringParam{StringParam: "default"}},
		"log_info":          b(level <= slog.LevelInfo),
		"log_warning":       b(level <= slog.LevelWarn),
		"log_error":         b(true),
		"log_verbose_level": {ParameterChoice: &tritonpb.LogSettingsResponse_SettingValue_Uint32Param{Uint32Param: verbose}},
	}}, nil
}

// logLevel is the level the settings ask for, starting from cur.
func logLevel(cur slog.Level, settings map[string]*tritonpb.LogSettingsRequest_SettingValue) (slog.Level, error) {
	on := func(k string) (bool, bool, error) {
		v, ok := settings[k]
		if !ok {
			return false, false, nil
		}
		p, isBool := v.GetParameterChoice().(*tritonpb.LogSettingsRequest_SettingValue_BoolParam)
		if !isBool {
			return false, true, tensor.Errorf(tensor.InvalidArgument, "log setting %q: expected a bool", k)
		}
		return p.BoolParam, true, nil
	}
	for k, v := range settings {
		switch k {
		case "log_info", "log_warning", "log_error", "log_verbose_level":
		case "log_file":
			if v.GetStringParam() != "" {
				return cur, tensor.Errorf(tensor.InvalidArgument, "log_file %q: Sluice logs to standard error; expected \"\"", v.GetStringParam())
			}
		case "log_format":
			if v.GetStringParam() != "default" {
				return cur, tensor.Errorf(tensor.InvalidArgument, "log_format %q: the format is log.format's; expected \"default\"", v.GetStringParam())
			}
		default:
			return cur, tensor.Errorf(tensor.InvalidArgument, "log setting %q: unknown; expected log_info, log_warning, log_error, log_verbose_level, log_file or log_format", k)
		}
	}
	level := cur
	if warn, set, err := on("log_warning"); err != nil {
		return cur, err
	} else if set && warn {
		level = slog.LevelWarn
	} else if set {
		level = slog.LevelError
	}
	if info, set, err := on("log_info"); err != nil {
		return cur, err
	} else if set && info {
		level = slog.LevelInfo
	} else if set && level < slog.LevelWarn {
		level = slog.LevelWarn
	}
	if e, set, err := on("log_error"); err != nil {
		return cur, err
	} else if set && !e {
		return cur, tensor.Errorf(tensor.InvalidArgument, "log_error false: errors are always logged")
	}
	if v, ok := settings["log_verbose_level"]; ok {
		if v.GetUint32Param() > 0 {
			level = slog.LevelDebug
		} else if level < slog.LevelInfo {
			level = slog.LevelInfo
		}
	}
	return level, nil
}
