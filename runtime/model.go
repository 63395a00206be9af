package runtime

import (
	"context"
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sluice-serving/sluice/tensor"
)

// Model is one loaded model version: its signature and a pool of instances,
// each a session with its own run options so that one run can be terminated
// without touching the others.
type Model struct {
	path string
	sig  Signature
	cfg  SessionConfig
	all  []*instance // instance i belongs to the caller's worker i; see RunBatch
}

type instance struct {
	session *ort.DynamicAdvancedSession
	opts    *ort.RunOptions
	// inBufs are the batch input buffers, one per input, grown to the
	// largest batch seen and reused by every later batch.
	inBufs [][]byte
	values []ort.Value // scratch for the inputs' and outputs' ORT values
}

// Load creates cfg.Instances sessions for the model file at path. On any
// failure it destroys what it created, so a bad model leaks nothing.
func Load(path string, cfg SessionConfig) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sig, err := ReadSignature(path)
	if err != nil {
		return nil, err
	}
	m := &Model{path: path, sig: sig, cfg: cfg}
	opts, err := newSessionOptions(cfg)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	for range cfg.Instances {
		inst, err := newInstance(path, sig, opts)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.all = append(m.all, inst)
	}
	return m, nil
}

func newInstance(path string, sig Signature, opts *ort.SessionOptions) (*instance, error) {
	s, err := ort.NewDynamicAdvancedSession(path, names(sig.Inputs), names(sig.Outputs), opts)
	if err != nil {
		return nil, fmt.Errorf("creating session for %s: %w", path, err)
	}
	ro, err := ort.NewRunOptions()
	if err != nil {
		s.Destroy()
		return nil, fmt.Errorf("creating run options: %w", err)
	}
	n := len(sig.Inputs)
	return &instance{session: s, opts: ro, inBufs: make([][]byte, n), values: make([]ort.Value, n+len(sig.Outputs))}, nil
}

func names(ios []IO) []string {
	out := make([]string, len(ios))
	for i, io := range ios {
		out[i] = io.Name
	}
	return out
}

// Signature is the model file's own signature.
func (m *Model) Signature() Signature { return m.sig }

// Path is the model file the sessions were made from.
func (m *Model) Path() string { return m.path }

// Instances is the number of inferences that can run at once.
func (m *Model) Instances() int { return m.cfg.Instances }

// Close destroys every session. The caller must have stopped sending runs.
func (m *Model) Close() {
	for _, inst := range m.all {
		inst.opts.Destroy()
		inst.session.Destroy()
	}
	m.all = nil
}

// runTerminable runs the session and turns the end of ctx into
// RunOptions.Terminate, then clears it so the instance can be reused.
func (inst *instance) runTerminable(ctx context.Context, ins, outs []ort.Value) error {
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		inst.opts.Terminate()
		close(fired)
	})
	err := inst.session.RunWithOptions(ins, outs, inst.opts)
	if !stop() {
		<-fired
		inst.opts.UnsetTerminate()
		if err == nil {
			err = ctx.Err()
		}
		return tensor.Errorf(tensor.DeadlineExceeded, "inference cancelled: %w", err)
	}
	if err != nil {
		return tensor.Errorf(tensor.Internal, "onnx runtime: %w", err)
	}
	return nil
}

func destroyAll(vs []ort.Value) {
	for _, v := range vs {
		if v != nil {
			v.Destroy()
		}
	}
}
