package registry

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"time"

	"github.com/sluice-serving/sluice/tensor"
)

// shadowJob is a copy of a served call for the candidate version: its own
// inputs and the primary's outputs, both copied, since the caller's memory
// is gone by the time the job runs.
type shadowJob struct {
	model     string
	candidate *Version
	ro        *rollout
	req       tensor.Request
	primary   []tensor.Tensor
}

// shadowQueue bounds shadow work: a full queue drops the copy, so shadowing
// never holds up a primary call and is the first work shed under load.
const shadowQueue = 64

// maybeShadow copies a fraction of the stable version's successful calls to
// the canary, after the primary answer exists. Copies are shed first: none
// is made while primary calls wait in the stable version's queue, since a
// copy would take CPU those calls need.
func (r *Registry) maybeShadow(ro *rollout, primary, canary *Version, req *tensor.Request, resp *tensor.Response) {
	f := ro.status.Spec.ShadowFraction
	if f <= 0 || canary == nil || rand.Float64() >= f {
		return
	}
	if primary.Stats().Queued() > 0 {
		r.countShadow(canary.name, "dropped")
		return
	}
	job := shadowJob{model: canary.name, candidate: canary, ro: ro, req: tensor.Request{Outputs: req.Outputs}, primary: cloneTensors(resp.Outputs)}
	job.req.Inputs = cloneTensors(req.Inputs)
	select {
	case r.shadows <- job:
	default:
		r.countShadow(canary.name, "dropped")
	}
}

func cloneTensors(ts []tensor.Tensor) []tensor.Tensor {
	out := make([]tensor.Tensor, len(ts))
	for i, t := range ts {
		out[i] = tensor.Tensor{Name: t.Name, DataType: t.DataType, Shape: append([]int64(nil), t.Shape...), Data: append([]byte(nil), t.Data...)}
	}
	return out
}

// runShadows is the one shadow worker; Close stops it.
func (r *Registry) runShadows(ctx context.Context) {
	defer close(r.shadowDone)
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-r.shadows:
			jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			resp, err := job.candidate.Infer(jctx, &job.req)
			cancel()
			if err != nil {
				r.countShadow(job.model, "failed")
				job.ro.shadowResult(false, math.Inf(1))
				continue
			}
			agree, diff := compareOutputs(job.primary, resp.Outputs)
			job.ro.shadowResult(agree, diff)
			if agree {
				r.countShadow(job.model, "agree")
			} else {
				r.countShadow(job.model, "disagree")
			}
		}
	}
}

func (r *Registry) countShadow(model, outcome string) {
	if r.calls != nil {
		r.calls.shadow.WithLabelValues(model, outcome).Inc()
	}
}

// compareOutputs reports whether a candidate agrees with the primary — equal
// integer outputs (labels) and equal argmax along the last dimension of
// floating outputs with more than one class — and the largest absolute
// difference over floating outputs.
func compareOutputs(primary, cand []tensor.Tensor) (agree bool, maxDiff float64) {
	if len(primary) != len(cand) {
		return false, math.Inf(1)
	}
	agree = true
	for i := range primary {
		p, c := &primary[i], &cand[i]
		if p.DataType != c.DataType || !tensor.SameShape(p.Shape, c.Shape) {
			return false, math.Inf(1)
		}
		switch p.DataType {
		case tensor.FP32:
			a, b := floats32(p.Data), floats32(c.Data)
			for k := range a {
				maxDiff = max(maxDiff, math.Abs(float64(a[k]-b[k])))
			}
			if n := p.Shape[len(p.Shape)-1]; n > 1 {
				agree = agree && sameArgmax(a, b, int(n))
			}
		case tensor.FP16, tensor.FP64, tensor.Bytes:
		default:
			agree = agree && string(p.Data) == string(c.Data)
		}
	}
	return agree, maxDiff
}

func floats32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func sameArgmax(a, b []float32, classes int) bool {
	for row := 0; row+classes <= len(a); row += classes {
		if argmax(a[row:row+classes]) != argmax(b[row:row+classes]) {
			return false
		}
	}
	return true
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
