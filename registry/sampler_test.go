package registry_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// recorder is a Sampler that copies what it is given.
type recorder struct {
	mu    sync.Mutex // guards calls
	calls []sampled
}

type sampled struct{ inputs, outputs []tensor.Tensor }

var _ registry.Sampler = (*recorder)(nil)

func (r *recorder) Sample(inputs, outputs []tensor.Tensor) {
	cp := func(ts []tensor.Tensor) []tensor.Tensor {
		out := make([]tensor.Tensor, len(ts))
		for i, t := range ts {
			out[i] = tensor.Tensor{Name: t.Name, DataType: t.DataType, Shape: append([]int64(nil), t.Shape...), Data: bytes.Clone(t.Data)}
		}
		return out
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, sampled{cp(inputs), cp(outputs)})
}

func (r *recorder) taken() []sampled {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sampled(nil), r.calls...)
}

func names(ts []tensor.Tensor) string {
	var n []string
	for _, t := range ts {
		n = append(n, t.Name)
	}
	return strings.Join(n, ",")
}

// A sampler sees each routed call that succeeds, unversioned or pinned,
// with the inputs in signature order whatever order they came in and
// every output whatever the call asked for; it sees neither a failed call
// nor one made on the version directly (a shadow copy's way in).
func TestSamplerSeesRoutedCalls(t *testing.T) {
	ortest.Init(t)
	r := load(t, repo(t, map[string]map[string]string{"alltypes": {"1": ortest.Fixture(t, "alltypes")}}, nil))
	v, err := r.Lookup("alltypes", "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Sampler() != nil {
		t.Fatal("a version starts with a sampler")
	}
	rec := &recorder{}
	v.SetSampler(rec)
	if v.Sampler() != registry.Sampler(rec) {
		t.Fatal("SetSampler did not attach the sampler")
	}
	sig := v.Signature()
	var inputs []tensor.Tensor
	for i := len(sig.Inputs) - 1; i >= 0; i-- { // reversed
		io := sig.Inputs[i]
		size := io.DataType.Size()
		if io.DataType == tensor.Bytes {
			size = 4 // an empty string: its length alone
		}
		data := make([]byte, 3*size)
		if io.DataType == tensor.FP32 {
			copy(data, []byte{0, 0, 0x80, 0x3f}) // 1.0
		}
		inputs = append(inputs, tensor.Tensor{Name: io.Name, DataType: io.DataType, Shape: []int64{1, 3}, Data: data})
	}
	req := &tensor.Request{Inputs: inputs, Outputs: []tensor.OutputRequest{{Name: "out_int32"}}}
	ctx := context.Background()
	for _, version := range []string{"", "1"} {
		if resp, err := r.Infer(ctx, "alltypes", version, "", req); err != nil || len(resp.Outputs) != 1 {
			t.Fatalf("version %q: %v, %+v", version, err, resp)
		}
	}
	got := rec.taken()
	if len(got) != 2 {
		t.Fatalf("%d calls sampled, want 2", len(got))
	}
	var wantIn, wantOut []string
	for _, io := range sig.Inputs {
		wantIn = append(wantIn, io.Name)
	}
	for _, io := range sig.Outputs {
		wantOut = append(wantOut, io.Name)
	}
	for _, s := range got {
		if names(s.inputs) != strings.Join(wantIn, ",") || names(s.outputs) != strings.Join(wantOut, ",") {
			t.Errorf("sampled inputs %s and outputs %s, want %v and %v", names(s.inputs), names(s.outputs), wantIn, wantOut)
		}
		for i, in := range s.inputs {
			if in.Name == "in_fp32" && (!bytes.Equal(in.Data[:4], []byte{0, 0, 0x80, 0x3f}) || !bytes.Equal(s.outputs[i].Data[:4], in.Data[:4])) {
				t.Errorf("in_fp32 sampled as %v and out_fp32 as %v, want the value sent, 1.0", in.Data, s.outputs[i].Data)
			}
		}
	}

	bad := &tensor.Request{Inputs: inputs[:1]}
	if _, err := r.Infer(ctx, "alltypes", "", "", bad); tensor.KindOf(err) != tensor.InvalidArgument {
		t.Fatalf("a call missing inputs: %v", err)
	}
	if _, err := v.Infer(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.taken()); n != 2 {
		t.Errorf("%d calls sampled after a failed call and a direct one, want still 2", n)
	}
	v.SetSampler(nil)
	if _, err := r.Infer(ctx, "alltypes", "", "", req); err != nil || v.Sampler() != nil || len(rec.taken()) != 2 {
		t.Errorf("a detached sampler still sees calls (%v)", err)
	}
}

// The drift section is kept as JSON for drift monitoring and checked with
// the check it set, like the rollout section.
func TestDriftSection(t *testing.T) {
	ortest.Init(t)
	dir := repo(t, map[string]map[string]string{
		"watched": {"1": ortest.Fixture(t, "rowid")},
		"plain":   {"1": ortest.Fixture(t, "rowid")},
		"refused": {"1": ortest.Fixture(t, "rowid")},
	}, map[string]string{
		"watched": "drift:\n  window: 5m\n  min_rows: 100\n",
		"plain":   "max_batch_size: 4\n",
		"refused": "drift:\n  slots: 0\n",
	})
	r := newRegistry(t, dir, registry.ModePoll)
	r.CheckDriftSpecs(func(b []byte) error {
		if strings.Contains(string(b), `"slots":0`) {
			return errorString("drift.slots: 0, expected 1 to 120")
		}
		return nil
	})
	if err := r.LoadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if raw, err := r.DriftSpec("watched"); err != nil || string(raw) != `{"min_rows":100,"window":"5m"}` {
		t.Errorf("watched: %s, %v", raw, err)
	}
	if raw, err := r.DriftSpec("plain"); err != nil || raw != nil {
		t.Errorf("plain: %s, %v; want nil", raw, err)
	}
	if _, err := r.DriftSpec("absent"); tensor.KindOf(err) != tensor.NotFound {
		t.Errorf("absent: %v", err)
	}
	if _, err := r.Lookup("refused", ""); err == nil || !strings.Contains(err.Error(), "drift.slots") {
		t.Errorf("a refused drift section: %v, want the version not loaded, naming the key", err)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
