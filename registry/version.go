package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-serving/sluice/batching"
	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/tensor"
)

// Version is one loaded, warmed model version and its batcher.
type Version struct {
	model   *runtime.Model
	batcher *batching.Batcher
	name    string
	version int64
	label   string            // the version as the protocol writes it
	sig     runtime.Signature // what callers see: config dims applied
	cfg     ModelConfig
	hash    uint64    // content hash of model.onnx and its config file
	card    []byte    // model_card.json beside model.onnx when it loaded; nil: none
	pending sync.Pool // *pending, reused after successful calls
	// sampler profiles the routed calls that succeed; nil: none. Atomic,
	// so the request path reads it without a lock while drift monitoring
	// attaches and detaches.
	sampler atomic.Pointer[samplerRef]
}

// samplerRef boxes a Sampler for the atomic pointer.
type samplerRef struct{ s Sampler }

// SetSampler attaches s to the version's routed calls (nil detaches).
func (v *Version) SetSampler(s Sampler) {
	if s == nil {
		v.sampler.Store(nil)
		return
	}
	v.sampler.Store(&samplerRef{s})
}

// Sampler is the sampler attached to the version, or nil.
func (v *Version) Sampler() Sampler {
	if r := v.sampler.Load(); r != nil {
		return r.s
	}
	return nil
}

func loadVersion(ctx context.Context, name string, v int64, path string, cfg ModelConfig, metrics *batching.Metrics, log *slog.Logger) (*Version, error) {
	m, err := runtime.Load(path, cfg.SessionConfig)
	if err != nil {
		return nil, fmt.Errorf("model %q version %d: %w", name, v, err)
	}
	sig, err := cfg.applyDims(m.Signature())
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("model %q: %s: %w", name, cfg.fileName(), err)
	}
	ver := &Version{model: m, name: name, version: v, label: strconv.FormatInt(v, 10), sig: sig, cfg: cfg, card: readCard(path)}
	if err := ver.warm(ctx); err != nil {
		m.Close()
		return nil, fmt.Errorf("model %q version %d: warm-up inference failed: %w", name, v, err)
	}
	// One batcher worker per session the runtime created: instances per
	// GPU times the GPUs, or what a CPU fallback made of them.
	sessions := m.Instances()
	r := &runner{model: m, scratch: make([][]runtime.BatchItem, sessions)}
	stats := metrics.NewStats(name, ver.label, cfg.MaxBatchSize)
	blog := batching.WithLogger(log.With("model", name, "version", ver.label))
	bcfg := cfg.batcherConfig()
	bcfg.Instances = sessions
	if ver.batcher, err = batching.New(bcfg, r.run, stats, blog); err != nil {
		m.Close()
		return nil, fmt.Errorf("model %q: %s: %w", name, cfg.fileName(), err)
	}
	return ver, nil
}

// close drains the batcher, then destroys the sessions.
func (v *Version) close(ctx context.Context) error {
	err := v.batcher.Close(ctx)
	v.model.Close()
	return err
}

// runner binds the batcher's run function to the runtime.
type runner struct {
	model   *runtime.Model
	scratch [][]runtime.BatchItem // per instance; only its worker touches it
}

func (r *runner) run(ctx context.Context, inst int, bt *batching.Batch) error {
	items := r.scratch[inst][:0]
	for _, it := range bt.Items {
		items = append(items, runtime.BatchItem{Inputs: it.Inputs, Outputs: it.Outputs})
	}
	r.scratch[inst] = items
	t, err := r.model.RunBatch(ctx, inst, items, bt.InputsCopied)
	bt.InputTime, bt.InferTime, bt.OutputTime = t.Input, t.Infer, t.Output
	if err != nil {
		return err
	}
	for k, it := range bt.Items {
		it.Outputs = items[k].Outputs
	}
	return nil
}

// warm runs a batch-1 inference, and one at max_batch_size, on every
// instance, so each session has allocated its buffers before the version
// takes traffic.
func (v *Version) warm(ctx context.Context) error {
	sizes := []int64{1}
	if v.cfg.MaxBatchSize > 1 {
		sizes = append(sizes, int64(v.cfg.MaxBatchSize))
	}
	for _, rows := range sizes {
		inputs := make([]tensor.Tensor, len(v.sig.Inputs))
		for i, io := range v.sig.Inputs {
			inputs[i] = zeroTensor(io, rows)
		}
		errs := make([]error, v.model.Instances())
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = v.model.RunBatch(ctx, i, []runtime.BatchItem{{Inputs: inputs}}, nil)
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// zeroTensor is an all-zero (or all-empty-string) input with dimension 0 set
// to rows when it is open and every other open dimension set to 1.
func zeroTensor(io runtime.IO, rows int64) tensor.Tensor {
	shape := make([]int64, len(io.Dims))
	for i, d := range io.Dims {
		shape[i] = max(d, 1)
		if i == 0 && d < 0 {
			shape[i] = rows
		}
	}
	n := tensor.Elements(shape)
	size := int64(io.DataType.Size())
	if io.DataType == tensor.Bytes {
		size = 4 // an empty element is just its zero length
	}
	return tensor.Tensor{Name: io.Name, DataType: io.DataType, Shape: shape, Data: make([]byte, n*size)}
}

// Name is the model's name.
func (v *Version) Name() string { return v.name }

// Label is the version number as the protocol writes it ("1").
func (v *Version) Label() string { return v.label }

// Signature is what callers must send and will get.
func (v *Version) Signature() runtime.Signature { return v.sig }

// Instances is how many inferences the version runs at once: its sessions.
func (v *Version) Instances() int { return v.model.Instances() }

// Stats are the version's batching statistics.
func (v *Version) Stats() *batching.Stats { return v.batcher.Stats() }

// Infer checks req against the signature and runs it through the batcher.
// The call is not sampled: it is a shadow copy or a direct call, not a
// call the model's traffic routed (Route.Infer samples those).
func (v *Version) Infer(ctx context.Context, req *tensor.Request) (*tensor.Response, error) {
	return v.infer(ctx, req, false)
}

// infer is Infer, handing the call to the version's sampler, if any, when
// sample is true and the call succeeded.
func (v *Version) infer(ctx context.Context, req *tensor.Request, sample bool) (*tensor.Response, error) {
	p, _ := v.pending.Get().(*pending)
	if p == nil {
		p = &pending{}
	}
	if err := checkRequest(v.name, v.sig, req, &p.checked); err != nil {
		return nil, err // p is dropped: an error is rare, and its buffers may hold the caller's tensors
	}
	prio, timeout, err := callParameters(req.Parameters)
	if err != nil {
		return nil, err
	}
	timeout = shorter(timeout, req.Timeout)
	inputs, it := p.inputs, &p.item
	it.Inputs, it.Rows, it.Key = inputs, 1, shapeKey(inputs)
	if v.sig.Batched {
		it.Rows = int(inputs[0].Shape[0])
	}
	if err := v.batcher.Submit(ctx, it, prio, timeout); err != nil {
		// After an error other than a rejection the item must not be
		// reused (batching.Batcher.Submit): p goes to the collector.
		return nil, fmt.Errorf("model %q version %s: %w", v.name, v.label, err)
	}
	resp := &tensor.Response{ModelName: v.name, ModelVersion: v.label, ID: req.ID, Outputs: make([]tensor.Tensor, len(p.want))}
	for i, j := range p.want {
		resp.Outputs[i] = it.Outputs[j]
	}
	if sample {
		if r := v.sampler.Load(); r != nil {
			// it.Inputs are the checked inputs in signature order and
			// it.Outputs every output the model gave, still live here.
			r.s.Sample(it.Inputs, it.Outputs)
		}
	}
	it.Inputs, it.Outputs = nil, nil
	clear(p.inputs) // pins no caller's tensors while pooled
	v.pending.Put(p)
	return resp, nil
}

// pending is one call's reusable state: its batcher item and the buffers
// its checks fill; pooled per version and reused after a successful call.
type pending struct {
	item batching.Item
	checked
}

// callParameters reads Triton's per-request "priority" (a level, 1 first)
// and "timeout" (microseconds, can only shorten the model's).
func callParameters(p tensor.Parameters) (int, time.Duration, error) {
	var prio int
	var timeout time.Duration
	if v, ok := p["priority"]; ok {
		n, ok := v.(int64)
		if !ok || n < 0 {
			return 0, 0, tensor.Errorf(tensor.InvalidArgument, "parameter priority: %v, expected a level from 1 (first)", v)
		}
		prio = int(min(n, 1<<20))
	}
	if v, ok := p["timeout"]; ok {
		n, ok := v.(int64)
		if !ok || n < 0 {
			return 0, 0, tensor.Errorf(tensor.InvalidArgument, "parameter timeout: %v, expected microseconds as a non-negative integer", v)
		}
		timeout = time.Duration(min(n, int64(time.Hour/time.Microsecond))) * time.Microsecond
	}
	return prio, timeout, nil
}

// shorter is the smaller of two timeouts, 0 meaning none.
func shorter(a, b time.Duration) time.Duration {
	if a == 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// shapeKey hashes every dimension but the batch one, so calls that can be
// stacked share a key (FNV-1a over the dimensions).
func shapeKey(inputs []tensor.Tensor) uint64 {
	h := uint64(14695981039346656037)
	for _, in := range inputs {
		for k, d := range in.Shape {
			if k == 0 {
				continue
			}
			h = (h ^ uint64(d)) * 1099511628211
		}
		h = (h ^ 0xff) * 1099511628211
	}
	return h
}

// Number is the version number.
func (v *Version) Number() int64 { return v.version }

// CardFile is the model card a pipeline publishes beside a version's
// model.onnx.
const CardFile = "model_card.json"

// readCard reads the model card beside the model file; nil when there is
// none or it is not a JSON object (a card is documentation: it never keeps
// a version from loading).
func readCard(modelPath string) []byte {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(modelPath), CardFile))
	if err != nil || !json.Valid(b) {
		return nil
	}
	return b
}

// Card is the version's model card as published with it, or nil.
func (v *Version) Card() []byte { return v.card }

// Config is the model configuration the version loaded with.
func (v *Version) Config() ModelConfig { return v.cfg }
