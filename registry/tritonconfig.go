package registry

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// Triton's config.pbtxt, read into the configuration Sluice runs. The
// mapping, field by field:
//
//	name                         must be the model folder's name, as Triton requires
//	platform, backend            onnxruntime_onnx, onnxruntime (either, or neither)
//	max_batch_size               max_batch_size; with it above 0 calls are batched dynamically
//	input, output                inputs, outputs: name, data_type (checked against the model),
//	                             dims with the batch dimension (-1) put back in front
//	dynamic_batching             preferred_batch_size, max_queue_delay_microseconds,
//	                             priority_levels, default_priority_level, and
//	                             default_queue_policy's max_queue_size,
//	                             default_timeout_microseconds, allow_timeout_override
//	                             (Sluice always lets a call shorten its timeout)
//	instance_group               one group: KIND_CPU is provider cpu; KIND_GPU is cuda (or
//	                             tensorrt) on gpus; count is instances (per GPU)
//	version_policy               version_policy: latest, all, specific
//	optimization.graph.level     graph_optimization: -1 basic, 0 all, 1 extended, 2 disabled
//	optimization.execution_accelerators.gpu_execution_accelerator
//	                             tensorrt or cuda: the provider, with their parameters
//	parameters                   the ONNX Runtime backend's thread counts and CUDA
//	                             options, and Sluice's own knobs as sluice.*
//
// A zero or absent value keeps Sluice's default, which differs from
// Triton's where Sluice chose otherwise on purpose: no instance_group (or no
// count) keeps one-thread CPU sessions filling the CPUs, and a zero
// max_queue_size keeps the queue bounded.

const backendONNX = "onnxruntime"

// ParseTritonConfig reads b, a config.pbtxt (Triton's ModelConfig in
// protobuf text format), for the model whose folder is named model, into
// cfg over what it holds. It returns the paths of the fields b sets that
// Sluice does not honour, sorted, for the caller to warn of.
func ParseTritonConfig(b []byte, model string, cfg *ModelConfig) ([]string, error) {
	var tc tritonpb.ModelConfig
	if err := prototext.Unmarshal(b, &tc); err != nil {
		return nil, tensor.Errorf(tensor.InvalidArgument, "expected Triton's ModelConfig in protobuf text format: %w", err)
	}
	cfg.file = configPbtxt
	return FromTriton(&tc, model, cfg)
}

// FromTriton maps a Triton model configuration onto cfg, as
// ParseTritonConfig does: for a configuration that arrives as a message
// rather than a file.
func FromTriton(tc *tritonpb.ModelConfig, model string, cfg *ModelConfig) ([]string, error) {
	ignored := unhonoured(tc.ProtoReflect(), tritonHonoured, "")
	steps := []func(*tritonpb.ModelConfig, *ModelConfig) ([]string, error){
		tritonIdentity(model), tritonBatching, tritonVersions, tritonIO, tritonPlacement, tritonGraph, tritonParameters,
	}
	for _, step := range steps {
		more, err := step(tc, cfg)
		if err != nil {
			return nil, tensor.WithKind(tensor.InvalidArgument, err)
		}
		ignored = append(ignored, more...)
	}
	slices.Sort(ignored)
	return ignored, tensor.WithKind(tensor.InvalidArgument, cfg.Validate())
}

// fieldSet is the fields of a message that Sluice honours, by name; a
// field whose set is nil is honoured whole (or its mapping names what it
// ignores), a message or list of messages with a set is walked further.
// A map is honoured whole or not at all.
type fieldSet map[protoreflect.Name]fieldSet

var tritonHonoured = fieldSet{
	"name": nil, "platform": nil, "backend": nil, "max_batch_size": nil, "version_policy": nil,
	"input":  {"name": nil, "data_type": nil, "dims": nil},
	"output": {"name": nil, "data_type": nil, "dims": nil},
	"dynamic_batching": {
		"preferred_batch_size": nil, "max_queue_delay_microseconds": nil, "priority_levels": nil, "default_priority_level": nil,
		// timeout_action is left out: REJECT is its zero value, so it is
		// set only as DELAY, which Sluice does not do.
		"default_queue_policy": {"max_queue_size": nil, "default_timeout_microseconds": nil, "allow_timeout_override": nil},
	},
	"instance_group": {"name": nil, "kind": nil, "count": nil, "gpus": nil},
	"optimization": {
		"graph":                  nil,
		"execution_accelerators": {"gpu_execution_accelerator": {"name": nil, "parameters": nil}},
	},
	"parameters": nil,
}

// unhonoured names every populated field of m that honoured leaves out,
// by its path from the top ("dynamic_batching.priority_queue_policy",
// "input[1].reshape"). Only populated fields are seen: in proto3 a field
// at its zero value was not set, or was set to what Sluice does anyway.
func unhonoured(m protoreflect.Message, honoured fieldSet, prefix string) []string {
	var out []string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		path := prefix + string(fd.Name())
		sub, ok := honoured[fd.Name()]
		switch {
		case !ok:
			out = append(out, path)
		case sub == nil:
		case fd.IsList():
			for i := range v.List().Len() {
				out = append(out, unhonoured(v.List().Get(i).Message(), sub, fmt.Sprintf("%s[%d].", path, i))...)
			}
		default:
			out = append(out, unhonoured(v.Message(), sub, path+".")...)
		}
		return true
	})
	return out
}

// tritonIdentity checks what the file says the model is.
func tritonIdentity(model string) func(*tritonpb.ModelConfig, *ModelConfig) ([]string, error) {
	return func(tc *tritonpb.ModelConfig, cfg *ModelConfig) ([]string, error) {
		switch {
		case tc.Name != "" && tc.Name != model:
			return nil, fmt.Errorf("name: %q, expected %q: the model's name must be its folder's, as in Triton", tc.Name, model)
		case tc.Platform != "" && tc.Platform != platformONNX:
			return nil, fmt.Errorf("platform: %q, expected %s: Sluice runs ONNX models on ONNX Runtime", tc.Platform, platformONNX)
		case tc.Backend != "" && tc.Backend != backendONNX:
			return nil, fmt.Errorf("backend: %q, expected %s: Sluice runs ONNX models on ONNX Runtime", tc.Backend, backendONNX)
		}
		cfg.MaxBatchSize = int(tc.MaxBatchSize)
		return nil, nil
	}
}

// tritonBatching maps dynamic_batching onto the batcher's settings.
func tritonBatching(tc *tritonpb.ModelConfig, cfg *ModelConfig) ([]string, error) {
	db := tc.GetDynamicBatching()
	if db == nil {
		return nil, nil
	}
	cfg.PreferredBatchSizes = nil
	for _, p := range db.PreferredBatchSize {
		cfg.PreferredBatchSizes = append(cfg.PreferredBatchSizes, int(p))
	}
	cfg.MaxQueueDelay = micros(db.MaxQueueDelayMicroseconds)
	// Triton's zero means no priorities (one level) and no default set;
	// Sluice's levels count from 1, so zero keeps its default of one.
	if db.PriorityLevels > 0 {
		cfg.PriorityLevels = int(min(db.PriorityLevels, math.MaxInt32))
	}
	if db.DefaultPriorityLevel > 0 {
		cfg.DefaultPriority = int(min(db.DefaultPriorityLevel, math.MaxInt32))
	}
	if q := db.DefaultQueuePolicy; q != nil {
		if q.MaxQueueSize > 0 { // Triton's zero is unbounded; Sluice's queues never are
			cfg.MaxQueueSize = int(q.MaxQueueSize)
		}
		cfg.DefaultTimeout = micros(q.DefaultTimeoutMicroseconds)
	}
	return nil, nil
}

// micros is a count of microseconds as a Duration, saturating rather
// than wrapping past 292 years.
func micros(us uint64) Duration {
	return Duration(time.Duration(min(us, uint64(math.MaxInt64/int64(time.Microsecond)))) * time.Microsecond)
}

// tritonVersions maps version_policy; checks as config.yaml's.
func tritonVersions(tc *tritonpb.ModelConfig, cfg *ModelConfig) ([]string, error) {
	switch p := tc.GetVersionPolicy().GetPolicyChoice().(type) {
	case *tritonpb.ModelVersionPolicy_All_:
		cfg.VersionPolicy = VersionPolicy{All: true}
	case *tritonpb.ModelVersionPolicy_Latest_:
		n := p.Latest.GetNumVersions()
		if n < 1 {
			return nil, fmt.Errorf("version_policy.latest.num_versions: %d, expected at least 1", n)
		}
		cfg.VersionPolicy = VersionPolicy{Latest: int(min(n, math.MaxInt32))}
	case *tritonpb.ModelVersionPolicy_Specific_:
		vs := p.Specific.GetVersions()
		if len(vs) == 0 {
			return nil, fmt.Errorf("version_policy.specific.versions: empty, expected the version numbers to serve")
		}
		if i := slices.IndexFunc(vs, func(v int64) bool { return v < 1 }); i >= 0 {
			return nil, fmt.Errorf("version_policy.specific.versions[%d]: %d, expected a version number from 1", i, vs[i])
		}
		cfg.VersionPolicy = VersionPolicy{Specific: slices.Clone(vs)}
	}
	return nil, nil
}

// tritonIO maps input and output. Triton's dims leave out the batch
// dimension when max_batch_size is above 0; Sluice's include it, as -1.
func tritonIO(tc *tritonpb.ModelConfig, cfg *ModelConfig) ([]string, error) {
	batched := tc.MaxBatchSize > 0
	cfg.Inputs, cfg.Outputs = nil, nil
	for i, in := range tc.Input {
		io, err := tritonTensor(in.Name, in.DataType, in.Dims, batched)
		if err != nil {
			return nil, fmt.Errorf("input[%d]: %w", i, err)
		}
		cfg.Inputs = append(cfg.Inputs, io)
	}
	for i, out := range tc.Output {
		io, err := tritonTensor(out.Name, out.DataType, out.Dims, batched)
		if err != nil {
			return nil, fmt.Errorf("output[%d]: %w", i, err)
		}
		cfg.Outputs = append(cfg.Outputs, io)
	}
	return nil, nil
}

func tritonTensor(name string, dt tritonpb.DataType, dims []int64, batched bool) (IOConfig, error) {
	io := IOConfig{Name: name}
	if name == "" {
		return io, fmt.Errorf("name: empty, expected the name of one of the model's tensors")
	}
	if dt != tritonpb.DataType_TYPE_INVALID {
		d, err := dataTypeOfTriton(dt)
		if err != nil {
			return io, err
		}
		io.DataType = d.String()
	}
	if batched {
		dims = append([]int64{-1}, dims...)
	}
	if len(dims) > 0 {
		io.Dims = slices.Clone(dims)
	}
	return io, nil
}

// dataTypeOfTriton is the v2 data type of one of model_config.proto's:
// the same name after "TYPE_", but for TYPE_STRING, which is BYTES.
func dataTypeOfTriton(dt tritonpb.DataType) (tensor.DataType, error) {
	name := strings.TrimPrefix(dt.String(), "TYPE_")
	if dt == tritonpb.DataType_TYPE_STRING {
		name = tensor.Bytes.String()
	}
	d, err := tensor.ParseDataType(name)
	if err != nil {
		return d, fmt.Errorf("data_type: %s, which Sluice does not serve: %w", dt, err)
	}
	return d, nil
}

// tritonDataType is model_config.proto's name for a v2 data type.
func tritonDataType(d tensor.DataType) tritonpb.DataType {
	if d == tensor.Bytes {
		return tritonpb.DataType_TYPE_STRING
	}
	return tritonpb.DataType(tritonpb.DataType_value["TYPE_"+d.String()])
}

// graphLevels are the ONNX Runtime backend's optimization.graph.level
// values, by Sluice's graph_optimization.
var graphLevels = map[string]int32{"basic": -1, "all": 0, "extended": 1, "disabled": 2}

// tritonGraph maps optimization.graph.level.
func tritonGraph(tc *tritonpb.ModelConfig, cfg *ModelConfig) ([]string, error) {
	g := tc.GetOptimization().GetGraph()
	if g == nil {
		return nil, nil
	}
	for name, level := range graphLevels {
		if level == g.Level {
			cfg.GraphOptimization = name
			return nil, nil
		}
	}
	return nil, fmt.Errorf("optimization.graph.level: %d, expected -1 (basic), 0 (all), 1 (extended) or 2 (disabled)", g.Level)
}
