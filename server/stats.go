package server

import (
	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/registry"
)

// The JSON shapes of Triton's statistics extension.
type statDuration struct {
	Count int64 `json:"count"`
	NS    int64 `json:"ns"`
}

type inferStats struct {
	Success       statDuration `json:"success"`
	Fail          statDuration `json:"fail"`
	Queue         statDuration `json:"queue"`
	ComputeInput  statDuration `json:"compute_input"`
	ComputeInfer  statDuration `json:"compute_infer"`
	ComputeOutput statDuration `json:"compute_output"`
	CacheHit      statDuration `json:"cache_hit"`
	CacheMiss     statDuration `json:"cache_miss"`
}

type batchStat struct {
	BatchSize     int          `json:"batch_size"`
	ComputeInput  statDuration `json:"compute_input"`
	ComputeInfer  statDuration `json:"compute_infer"`
	ComputeOutput statDuration `json:"compute_output"`
}

type modelStat struct {
	Name           string      `json:"name"`
	Version        string      `json:"version"`
	LastInference  int64       `json:"last_inference"`
	InferenceCount int64       `json:"inference_count"`
	ExecutionCount int64       `json:"execution_count"`
	InferenceStats inferStats  `json:"inference_stats"`
	BatchStats     []batchStat `json:"batch_stats"`
	MemoryUsage    []any       `json:"memory_usage"`
	// Sluice's additions: the queue now.
	QueueDepth int64 `json:"queue_depth"`
	InFlight   int64 `json:"inflight"`
	Rejected   int64 `json:"rejected_count"`
	Expired    int64 `json:"expired_count"`
}

type durationReader interface {
	Count() int64
	NS() int64
}

func dur(d durationReader) statDuration { return statDuration{d.Count(), d.NS()} }

func versionStat(v *registry.Version) modelStat {
	st := v.Stats()
	ms := modelStat{
		Name: v.Name(), Version: v.Label(),
		LastInference: st.LastInference.Load(), InferenceCount: st.InferenceCount.Load(), ExecutionCount: st.ExecutionCount.Load(),
		InferenceStats: inferStats{
			Success: dur(&st.Success), Fail: dur(&st.Fail), Queue: dur(&st.Queue),
			ComputeInput: dur(&st.ComputeInput), ComputeInfer: dur(&st.ComputeInfer), ComputeOutput: dur(&st.ComputeOutput),
		},
		BatchStats:  []batchStat{},
		MemoryUsage: []any{},
		QueueDepth:  st.Queued(), InFlight: st.InFlight(), Rejected: st.Rejected.Load(), Expired: st.Expired.Load(),
	}
	for _, b := range st.BatchSizes() {
		ms.BatchStats = append(ms.BatchStats, batchStat{b.Size, dur(&b.Input), dur(&b.Infer), dur(&b.Output)})
	}
	return ms
}

// modelStats answers GET /v2/models[/{m}[/versions/{v}]]/stats.
func (s *Server) modelStats(ctx *fasthttp.RequestCtx, r route) {
	var versions []*registry.Version
	switch {
	case r.model == "":
		for _, name := range s.models.Names() {
			vs, _ := s.models.Versions(name)
			versions = append(versions, vs...)
		}
	case r.version == "":
		vs, err := s.models.Versions(r.model)
		if err != nil {
			writeError(ctx, err)
			return
		}
		versions = vs
	default:
		v, err := s.models.Lookup(r.model, r.version)
		if err != nil {
			writeError(ctx, err)
			return
		}
		versions = []*registry.Version{v}
	}
	out := struct {
		ModelStats []modelStat `json:"model_stats"`
	}{ModelStats: []modelStat{}}
	for _, v := range versions {
		out.ModelStats = append(out.ModelStats, versionStat(v))
	}
	writeJSON(ctx, fasthttp.StatusOK, out)
}
