package rollout

import (
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"time"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/tensor"
)

// shadowDepth bounds one rollout's shadow work: copies admitted but not yet
// compared. A full queue drops the copy before anything is cloned, so
// shadowing never holds up a primary call, and each rollout has its own
// queue and worker, so one model's shadows never starve another's.
const shadowDepth = 16

// shadowTimeout bounds one shadow inference.
const shadowTimeout = 10 * time.Second

// shadowJob is a copy of a served call for the candidate: its own inputs
// and the primary's outputs, both cloned, since the caller's memory is gone
// by the time the job runs.
type shadowJob struct {
	candidate *registry.Version
	req       tensor.Request
	primary   []tensor.Tensor
}

// shadowQueue is one rollout's shadow work and the worker that does it.
type shadowQueue struct {
	slots chan struct{} // one per admitted job, freed once it is compared
	jobs  chan shadowJob
	stop  context.CancelFunc
	done  chan struct{} // closed when the worker has returned
}

// Shadow copies a share of the stable version's successful calls to the
// canary. Copies are the first work shed: none is made while primary calls
// wait in the stable version's queue, and one that finds no free slot is
// dropped before it is cloned.
func (l *live) Shadow(primary, canary *registry.Version, req *tensor.Request, resp *tensor.Response) {
	q := l.shadows
	if q == nil || rand.Float64() >= l.spec.ShadowFraction {
		return
	}
	if primary.Stats().Queued() > 0 {
		l.metrics.shadow(l.model, "dropped")
		return
	}
	select {
	case q.slots <- struct{}{}:
	default:
		l.metrics.shadow(l.model, "dropped")
		return
	}
	job := shadowJob{candidate: canary, req: tensor.Request{Outputs: slices.Clone(req.Outputs), Inputs: cloneTensors(req.Inputs)}, primary: cloneTensors(resp.Outputs)}
	q.jobs <- job // never blocks: a slot is held for it
}

func cloneTensors(ts []tensor.Tensor) []tensor.Tensor {
	out := make([]tensor.Tensor, len(ts))
	for i, t := range ts {
		out[i] = tensor.Tensor{Name: t.Name, DataType: t.DataType, Shape: append([]int64(nil), t.Shape...), Data: append([]byte(nil), t.Data...)}
	}
	return out
}

// startShadows starts the rollout's shadow worker; stopShadows stops it.
func (l *live) startShadows(log *slog.Logger) {
	if l.spec.ShadowFraction <= 0 {
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	q := &shadowQueue{slots: make(chan struct{}, shadowDepth), jobs: make(chan shadowJob, shadowDepth), stop: stop, done: make(chan struct{})}
	l.shadows = q
	go func() {
		defer close(q.done)
		for {
			select {
			case <-ctx.Done():
				return
			case job := <-q.jobs:
				l.runShadow(ctx, job, log)
				<-q.slots
			}
		}
	}()
}

func (l *live) stopShadows() {
	if q := l.shadows; q != nil {
		q.stop()
		<-q.done
	}
}

// runShadow runs one copy and tallies its comparison. A panic in the
// comparison is contained here: it is logged and counted, and the worker
// goes on.
func (l *live) runShadow(ctx context.Context, job shadowJob, log *slog.Logger) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("shadow comparison panicked", "model", l.model, "panic", v, "stack", string(debug.Stack()))
			l.metrics.shadow(l.model, "panicked")
		}
	}()
	jctx, cancel := context.WithTimeout(ctx, shadowTimeout)
	resp, err := job.candidate.Infer(jctx, &job.req)
	fault := registry.Classify(jctx, &job.req, job.candidate, err)
	cancel()
	switch fault {
	case registry.NotCounted: // drained, reloading, shed, or shutting down: no verdict on the candidate
		l.metrics.shadow(l.model, "skipped")
		return
	case registry.VersionFault:
		l.shadowResult(false, math.Inf(1))
		l.metrics.shadow(l.model, "failed")
		return
	}
	agree, diff := compareOutputs(job.primary, resp.Outputs)
	l.shadowResult(agree, diff)
	if agree {
		l.metrics.shadow(l.model, "agree")
	} else {
		l.metrics.shadow(l.model, "disagree")
	}
}
