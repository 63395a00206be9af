package grpcserver

import (
	"context"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// extensions are the protocol extensions this door serves: GET /v2's,
// and Triton's system shared memory, which only gRPC offers.
var extensions = []string{"binary_tensor_data", "statistics", "model_repository", "model_configuration", "system_shared_memory", "logging"}

// ServerLive answers while the process serves at all.
func (s *Server) ServerLive(context.Context, *tritonpb.ServerLiveRequest) (*tritonpb.ServerLiveResponse, error) {
	return &tritonpb.ServerLiveResponse{Live: true}, nil
}

// ServerReady is true once every model has a ready version, and false
// again from the moment shutdown begins.
func (s *Server) ServerReady(context.Context, *tritonpb.ServerReadyRequest) (*tritonpb.ServerReadyResponse, error) {
	return &tritonpb.ServerReadyResponse{Ready: !s.draining.Load() && s.models.Ready()}, nil
}

// ModelReady is false, not an error, for a model that is unknown or not
// ready, as Triton's is; a malformed version is an error.
func (s *Server) ModelReady(_ context.Context, in *tritonpb.ModelReadyRequest) (*tritonpb.ModelReadyResponse, error) {
	_, err := s.models.Lookup(in.Name, in.Version)
	switch tensor.KindOf(err) {
	case tensor.Unavailable, tensor.NotFound:
		return &tritonpb.ModelReadyResponse{Ready: false}, nil
	}
	if err != nil {
		return nil, err
	}
	return &tritonpb.ModelReadyResponse{Ready: true}, nil
}

// ServerMetadata names the server, its version and extensions.
func (s *Server) ServerMetadata(context.Context, *tritonpb.ServerMetadataRequest) (*tritonpb.ServerMetadataResponse, error) {
	return &tritonpb.ServerMetadataResponse{Name: "sluice", Version: Version, Extensions: extensions}, nil
}

// ModelMetadata describes a version's inputs and outputs (the served
// version when none is named, with every version's label).
func (s *Server) ModelMetadata(_ context.Context, in *tritonpb.ModelMetadataRequest) (*tritonpb.ModelMetadataResponse, error) {
	v, err := s.models.Lookup(in.Name, in.Version)
	if err != nil {
		return nil, err
	}
	out := &tritonpb.ModelMetadataResponse{Name: v.Name(), Platform: "onnxruntime_onnx", Versions: []string{v.Label()}}
	if in.Version == "" {
		vs, err := s.models.Versions(in.Name)
		if err != nil {
			return nil, err
		}
		out.Versions = out.Versions[:0]
		for _, v := range vs {
			out.Versions = append(out.Versions, v.Label())
		}
	}
	sig := v.Signature()
	for _, io := range sig.Inputs {
		out.Inputs = append(out.Inputs, &tritonpb.ModelMetadataResponse_TensorMetadata{Name: io.Name, Datatype: io.DataType.String(), Shape: io.Dims})
	}
	for _, io := range sig.Outputs {
		out.Outputs = append(out.Outputs, &tritonpb.ModelMetadataResponse_TensorMetadata{Name: io.Name, Datatype: io.DataType.String(), Shape: io.Dims})
	}
	return out, nil
}

// ModelConfig answers the version's configuration as Triton's
// ModelConfig, the message GET /v2/models/{m}/config prints as JSON.
func (s *Server) ModelConfig(_ context.Context, in *tritonpb.ModelConfigRequest) (*tritonpb.ModelConfigResponse, error) {
	v, err := s.models.Lookup(in.Name, in.Version)
	if err != nil {
		return nil, err
	}
	return &tritonpb.ModelConfigResponse{Config: v.TritonConfig()}, nil
}

// ModelStatistics answers Triton's statistics for every version of every
// model (no name), of one model (no version) or of one version.
func (s *Server) ModelStatistics(_ context.Context, in *tritonpb.ModelStatisticsRequest) (*tritonpb.ModelStatisticsResponse, error) {
	var versions []*registry.Version
	switch {
	case in.Name == "":
		for _, name := range s.models.Names() {
			vs, _ := s.models.Versions(name)
			versions = append(versions, vs...)
		}
	case in.Version == "":
		vs, err := s.models.Versions(in.Name)
		if err != nil {
			return nil, err
		}
		versions = vs
	default:
		v, err := s.models.Lookup(in.Name, in.Version)
		if err != nil {
			return nil, err
		}
		versions = []*registry.Version{v}
	}
	out := &tritonpb.ModelStatisticsResponse{}
	for _, v := range versions {
		out.ModelStats = append(out.ModelStats, versionStats(v))
	}
	return out, nil
}

// durationReader is a batching counter of calls and their nanoseconds.
type durationReader interface {
	Count() int64
	NS() int64
}

func dur(d durationReader) *tritonpb.StatisticDuration {
	return &tritonpb.StatisticDuration{Count: uint64(d.Count()), Ns: uint64(d.NS())}
}

func versionStats(v *registry.Version) *tritonpb.ModelStatistics {
	st := v.Stats()
	ms := &tritonpb.ModelStatistics{
		Name: v.Name(), Version: v.Label(),
		LastInference:  uint64(st.LastInference.Load()),
		InferenceCount: uint64(st.InferenceCount.Load()),
		ExecutionCount: uint64(st.ExecutionCount.Load()),
		InferenceStats: &tritonpb.InferStatistics{
			Success: dur(&st.Success), Fail: dur(&st.Fail), Queue: dur(&st.Queue),
			ComputeInput: dur(&st.ComputeInput), ComputeInfer: dur(&st.ComputeInfer), ComputeOutput: dur(&st.ComputeOutput),
			CacheHit: &tritonpb.StatisticDuration{}, CacheMiss: &tritonpb.StatisticDuration{},
		},
	}
	for _, b := range st.BatchSizes() {
		ms.BatchStats = append(ms.BatchStats, &tritonpb.InferBatchStatistics{BatchSize: uint64(b.Size),
			ComputeInput: dur(&b.Input), ComputeInfer: dur(&b.Infer), ComputeOutput: dur(&b.Output)})
	}
	return ms
}
