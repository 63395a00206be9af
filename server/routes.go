package server

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/tensor"
)

// route is a parsed /v2 path.
type route struct {
	kind    routeKind
	model   string
	version string
}

type routeKind uint8

const (
	routeNone routeKind = iota
	routeServerMeta
	routeLive
	routeReady
	routeModelMeta
	routeModelReady
	routeInfer
	routeStats  // model stats; all models when model is empty
	routeCard   // the version's model card, written by the pipeline
	routeConfig // the model configuration extension, in Triton's form
	routeMetrics
	routeRepoIndex
	routeRepoLoad
	routeRepoUnload
	routeAdminRollout // GET status, POST start
	routeAdminAction  // POST promote, pause, resume, abort
	routeAdminTraffic // PUT weights
	routeAdminAutoscale
	routeAdminFleet // the fleet's replicas, with etcd coordination
	routeAdminDrift // a model's drift against its training profile
)

// methods lists what each endpoint answers to; HEAD goes with GET.
func (k routeKind) methods() string {
	switch k {
	case routeInfer, routeRepoIndex, routeRepoLoad, routeRepoUnload, routeAdminAction:
		return "POST"
	case routeAdminRollout:
		return "GET, POST"
	case routeAdminTraffic:
		return "PUT"
	}
	return "GET"
}

// parseRoute splits a request path into the v2 endpoint it names.
func parseRoute(path []byte) route {
	switch string(path) {
	case "/v2", "/v2/":
		return route{kind: routeServerMeta}
	case "/v2/health/live":
		return route{kind: routeLive}
	case "/v2/health/ready":
		return route{kind: routeReady}
	case "/v2/models/stats":
		return route{kind: routeStats}
	case "/metrics":
		return route{kind: routeMetrics}
	case "/v2/repository/index":
		return route{kind: routeRepoIndex}
	case "/v2/admin/autoscale":
		return route{kind: routeAdminAutoscale}
	case "/v2/admin/fleet":
		return route{kind: routeAdminFleet}
	}
	if rest, ok := bytes.CutPrefix(path, []byte("/v2/admin/models/")); ok {
		return parseAdmin(rest)
	}
	if rest, ok := bytes.CutPrefix(path, []byte("/v2/repository/models/")); ok {
		name, action, _ := bytes.Cut(rest, []byte("/"))
		switch {
		case len(name) == 0:
		case string(action) == "load":
			return route{kind: routeRepoLoad, model: string(name)}
		case string(action) == "unload":
			return route{kind: routeRepoUnload, model: string(name)}
		}
		return route{}
	}
	rest, ok := bytes.CutPrefix(path, []byte("/v2/models/"))
	if !ok {
		return route{}
	}
	name, rest, more := bytes.Cut(rest, []byte("/"))
	if len(name) == 0 || (more && len(rest) == 0) { // no model, or a trailing slash
		return route{}
	}
	r := route{model: string(name)}
	if v, after, ok := bytes.Cut(rest, []byte("/")); ok && string(v) == "versions" {
		version, tail, more := bytes.Cut(after, []byte("/"))
		switch {
		case len(version) == 0:
		case more && len(tail) == 0:
			return route{} // a trailing slash
		default:
			r.version, rest = string(version), tail
		}
	}
	// rest is what follows the model (and version): nothing, or one segment.
	switch string(rest) {
	case "":
		r.kind = routeModelMeta
	case "ready":
		r.kind = routeModelReady
	case "infer":
		r.kind = routeInfer
	case "stats":
		r.kind = routeStats
	case "card":
		r.kind = routeCard
	case "config":
		r.kind = routeConfig
	}
	return r
}

// parseAdmin reads {m}/rollout, {m}/rollout/{action}, {m}/traffic and
// {m}/drift.
func parseAdmin(rest []byte) route {
	parts := bytes.Split(rest, []byte("/"))
	if len(parts[0]) == 0 || len(parts) < 2 {
		return route{}
	}
	r := route{model: string(parts[0])}
	switch {
	case len(parts) == 2 && string(parts[1]) == "rollout":
		r.kind = routeAdminRollout
	case len(parts) == 3 && string(parts[1]) == "rollout" && len(parts[2]) > 0:
		r.kind, r.version = routeAdminAction, string(parts[2]) // the action rides in version
	case len(parts) == 2 && string(parts[1]) == "traffic":
		r.kind = routeAdminTraffic
	case len(parts) == 2 && string(parts[1]) == "drift":
		r.kind = routeAdminDrift
	}
	return r
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	defer s.recoverPanic(ctx)
	r := parseRoute(ctx.Path())
	if r.kind == routeNone {
		writeError(ctx, tensor.Errorf(tensor.NotFound, "no endpoint %s; see the KServe v2 protocol", ctx.Path()))
		return
	}
	want, method := r.kind.methods(), string(ctx.Method())
	if method == "HEAD" {
		method = "GET"
	}
	if !strings.Contains(want, method) {
		ctx.Response.Header.Set("Allow", want)
		writeError(ctx, methodNotAllowed{fmt.Errorf("%s %s: method not allowed, use %s", ctx.Method(), ctx.Path(), want)})
		return
	}
	if err := s.checkAccess(ctx, r); err != nil {
		s.deny(ctx, err)
		return
	}
	if ctx.Request.Header.ContentLength() > s.cfg.MaxBodyBytes {
		// Refused from its header, unread: fasthttp closes the connection
		// rather than discard that much.
		writeError(ctx, tooLarge(s.cfg.MaxBodyBytes))
		return
	}
	switch r.kind {
	case routeServerMeta:
		s.serverMetadata(ctx)
	case routeLive:
		writeJSON(ctx, fasthttp.StatusOK, map[string]bool{"live": true})
	case routeReady:
		s.serverReady(ctx)
	case routeModelMeta:
		s.modelMetadata(ctx, r)
	case routeModelReady:
		s.modelReady(ctx, r)
	case routeInfer:
		s.infer(ctx, r)
	case routeStats:
		s.modelStats(ctx, r)
	case routeCard:
		s.modelCard(ctx, r)
	case routeConfig:
		s.modelConfig(ctx, r)
	case routeMetrics:
		s.metricsHandler(ctx)
	case routeRepoIndex:
		s.repoIndex(ctx)
	case routeRepoLoad:
		s.repoLoad(ctx, r)
	case routeRepoUnload:
		s.repoUnload(ctx, r)
	case routeAdminRollout:
		s.adminRollout(ctx, r)
	case routeAdminAction:
		s.adminAction(ctx, r)
	case routeAdminTraffic:
		s.adminTraffic(ctx, r)
	case routeAdminAutoscale:
		s.adminAutoscale(ctx)
	case routeAdminFleet:
		s.adminFleet(ctx)
	case routeAdminDrift:
		s.adminDrift(ctx, r)
	}
}

// methodNotAllowed carries 405, the one status no error kind maps to,
// since only routing can tell a wrong method.
type methodNotAllowed struct{ error }

func (s *Server) recoverPanic(ctx *fasthttp.RequestCtx) {
	if v := recover(); v != nil {
		s.callLog(ctx).Error("handler panicked", "path", string(ctx.Path()), "panic", v, "stack", string(debug.Stack()))
		writeError(ctx, tensor.Errorf(tensor.Internal, "internal error while serving %s", ctx.Path()))
	}
}
