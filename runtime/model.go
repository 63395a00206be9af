package runtime

import (
	"context"
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sluice-serving/sluice/tensor"
)

// Model is one loaded model version: its signature, its sessions and a
// pool of instances. Instances on one device share a session when the
// config says so (SessionMode); each has its own run options, so that one
// run can be terminated without touching the others, and its own buffers.
type Model struct {
	path string
	sig  Signature
	cfg  SessionConfig
	all  []*instance // instance i belongs to the caller's worker i; see RunBatch
	// sessions holds each session once, however many instances run on it.
	sessions []*ort.DynamicAdvancedSession
	// placed is where each instance runs, fallback why a GPU provider was
	// not used ("" when it was, or was not asked for).
	placed   []Placement
	fallback string
}

type instance struct {
	session *ort.DynamicAdvancedSession // perhaps other instances' too
	opts    *ort.RunOptions
	// keptIn and keptOut are values over the instance's own input and
	// output buffers, one per input and output, reused while the shape
	// stays; their buffers grow to the largest batch seen.
	keptIn, keptOut []keptValue
	values          []ort.Value // scratch for the inputs' and outputs' ORT values
	fresh           []ort.Value // the values made for this run alone, released after it
	shape           []int64     // scratch for a stacked batch's shape

	// The Done channel of the context whose end terminates the runs
	// (watch): contexts that share it end together, so one hook serves
	// them; the hook's stop function, and the channel closed once the
	// hook has run. Used by the instance's one holder alone.
	watching  <-chan struct{}
	stopWatch func() bool
	fired     chan struct{}
}

// Load creates the sessions cfg plans (Plan) for the model file at path.
// When a GPU provider cannot run, fallback: fail returns why (kind
// Unavailable) and fallback: cpu logs it and creates as many CPU sessions.
// On any failure it destroys what it created, so a bad model leaks nothing.
func Load(path string, cfg SessionConfig) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sig, err := ReadSignature(path)
	if err != nil {
		return nil, err
	}
	if err := checkCUDAGraph(cfg, sig); err != nil {
		return nil, err
	}
	plan := Plan(cfg)
	m, err := loadPlaced(path, sig, cfg, plan)
	if err == nil || cfg.Fallback != FallbackCPU || !gpuProblem(err) {
		return m, err
	}
	warnLog().Warn("execution provider unavailable, running on the CPU instead (fallback: cpu)",
		"model", path, "provider", cfg.Provider, "reason", err.Error(), "instances", len(plan))
	m, cpuErr := loadPlaced(path, sig, cfg, cpuPlan(len(plan)))
	if cpuErr != nil {
		return nil, cpuErr
	}
	m.fallback = err.Error()
	return m, nil
}

// loadPlaced creates one instance per placement, and a session for each
// instance or, where they share one, for each device.
func loadPlaced(path string, sig Signature, cfg SessionConfig, plan []Placement) (*Model, error) {
	if err := CheckProvider(plan[0].Provider); err != nil {
		return nil, err
	}
	m := &Model{path: path, sig: sig, cfg: cfg, placed: plan}
	opts := optionSet{cfg: cfg, byPlace: map[Placement]*ort.SessionOptions{}}
	defer opts.destroy()
	shared := map[Placement]*ort.DynamicAdvancedSession{}
	for _, p := range plan {
		s, ok := shared[p]
		if !ok {
			var err error
			if s, err = opts.newSession(path, sig, p); err != nil {
				m.Close()
				return nil, err
			}
			m.sessions = append(m.sessions, s)
			if cfg.shares(p) {
				shared[p] = s
			}
		}
		inst, err := newInstance(s, sig)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.all = append(m.all, inst)
	}
	return m, nil
}

// optionSet holds one set of session options per placement, made when a
// session first needs it and destroyed once every session exists.
type optionSet struct {
	cfg     SessionConfig
	byPlace map[Placement]*ort.SessionOptions
}

// newSession creates a session at p; a failure on a GPU provider is that
// provider's (providerErr), since the model itself was read already.
func (s optionSet) newSession(path string, sig Signature, p Placement) (*ort.DynamicAdvancedSession, error) {
	o, ok := s.byPlace[p]
	if !ok {
		var err error
		if o, err = newSessionOptions(s.cfg, p); err != nil {
			return nil, err
		}
		s.byPlace[p] = o
	}
	sess, err := ort.NewDynamicAdvancedSession(path, names(sig.Inputs), names(sig.Outputs), o)
	if err != nil {
		err = fmt.Errorf("creating session for %s: %w", path, err)
		if p.Provider != ProviderCPU {
			err = providerErr(p, err)
		}
		return nil, err
	}
	return sess, nil
}

func (s optionSet) destroy() {
	for _, o := range s.byPlace {
		o.Destroy()
	}
}

// newInstance is an instance that runs on s, which the Model owns.
func newInstance(s *ort.DynamicAdvancedSession, sig Signature) (*instance, error) {
	ro, err := ort.NewRunOptions()
	if err != nil {
		return nil, fmt.Errorf("creating run options: %w", err)
	}
	n := len(sig.Inputs)
	return &instance{session: s, opts: ro, keptIn: make([]keptValue, n), keptOut: make([]keptValue, len(sig.Outputs)),
		values: make([]ort.Value, n+len(sig.Outputs))}, nil
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

// Instances is the number of inferences that can run at once:
// instances times the GPUs on a GPU provider.
func (m *Model) Instances() int { return len(m.placed) }

// Sessions is the number of ORT sessions the instances run on, each
// holding its own copy of the weights: one per device when they share
// one, as many as the instances when they do not.
func (m *Model) Sessions() int { return len(m.sessions) }

// Placements is where each instance runs, in instance order.
func (m *Model) Placements() []Placement { return m.placed }

// Fallback is why the model runs on the CPU though its config asked for a
// GPU provider, or "" when it runs where it was asked to.
func (m *Model) Fallback() string { return m.fallback }

// Close destroys every instance's run options and every session, once
// each. The caller must have stopped sending runs.
func (m *Model) Close() {
	for _, inst := range m.all {
		inst.unwatch() // no hook may touch the options once destroyed
		inst.releaseKept()
		inst.opts.Destroy()
	}
	for _, s := range m.sessions {
		s.Destroy()
	}
	m.all, m.sessions = nil, nil
}

// runTerminable runs the session and turns the end of ctx into
// RunOptions.Terminate, then clears it so the instance can be reused.
func (inst *instance) runTerminable(ctx context.Context, ins, outs []ort.Value) error {
	inst.watch(ctx)
	err := inst.session.RunWithOptions(ins, outs, inst.opts)
	if ctx.Err() != nil {
		inst.unwatch() // waits for Terminate to be set, then clears it
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

// watch makes the end of ctx terminate the instance's run. A batcher hands
// an instance the same context batch after batch until one is cancelled,
// so the hook is made once per context rather than once per run.
func (inst *instance) watch(ctx context.Context) {
	done := ctx.Done()
	if inst.stopWatch != nil && done == inst.watching {
		return
	}
	inst.unwatch()
	if done == nil {
		return // it never ends
	}
	fired := make(chan struct{})
	inst.watching, inst.fired = done, fired
	inst.stopWatch = context.AfterFunc(ctx, func() {
		inst.opts.Terminate()
		close(fired)
	})
}

// unwatch removes the hook; if it has fired, it waits for Terminate to be
// set and clears it, so the next run is not stopped for the old context.
func (inst *instance) unwatch() {
	if inst.stopWatch == nil {
		return
	}
	if !inst.stopWatch() {
		<-inst.fired
		inst.opts.UnsetTerminate()
	}
	inst.watching, inst.stopWatch, inst.fired = nil, nil, nil
}

func destroyAll(vs []ort.Value) {
	for _, v := range vs {
		if v != nil {
			v.Destroy()
		}
	}
}
