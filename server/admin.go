package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"net"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/drift"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/rollout"
	"github.com/sluice-serving/sluice/tensor"
)

// authorize guards /v2/admin and the repository API: a bearer token
// compared in constant time (401 without one, 403 with a wrong one); with
// no token configured, they answer only when the server listens on
// loopback. The 401 carries its WWW-Authenticate challenge to deny.
func (s *Server) authorize(ctx *fasthttp.RequestCtx) error {
	return s.authorizeAdmin(ctx.Request.Header.Peek("Authorization"), s.cfg.Addr)
}

// authorizeAdmin checks an Authorization value against the admin token for
// a front door listening on addr (this one, or the gRPC port's).
func (s *Server) authorizeAdmin(auth []byte, addr string) error {
	if s.cfg.AdminToken == "" {
		if loopback(addr) {
			return nil
		}
		return tensor.Errorf(tensor.PermissionDenied, "the admin and repository APIs are disabled: set server.admin_token, or listen on loopback")
	}
	const prefix = "Bearer "
	if len(auth) <= len(prefix) || string(auth[:len(prefix)]) != prefix {
		return challenge{tensor.Errorf(tensor.Unauthenticated, "the admin and repository APIs need an Authorization: Bearer <server.admin_token> header"), "sluice-admin"}
	}
	if subtle.ConstantTimeCompare(auth[len(prefix):], []byte(s.cfg.AdminToken)) != 1 {
		return tensor.Errorf(tensor.PermissionDenied, "the bearer token is not the admin token")
	}
	return nil
}

// loopback reports whether addr's host is a loopback address or name.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// rolloutView is the admin API's answer: the rollout and the traffic, and
// with etcd coordination every replica's view.
type rolloutView struct {
	rollout.Status
	Traffic  registry.Traffic `json:"traffic"`
	Replicas any              `json:"replicas,omitempty"`
}

// Fleet is what the admin API shows of the fleet this replica belongs to
// (package coordination's Coordinator).
type Fleet interface {
	Name() string
	Leading() bool
	Connected() bool
	// Replicas are every live replica's view, JSON-ready.
	Replicas() any
}

// WithFleet shows f's replicas in rollout status and at GET
// /v2/admin/fleet.
func (s *Server) WithFleet(f Fleet) *Server {
	s.fleet = f
	return s
}

// adminFleet answers this replica's name, whether it leads and reaches
// etcd, and every replica's view; 404 for a replica that is alone.
func (s *Server) adminFleet(ctx *fasthttp.RequestCtx) {
	if s.fleet == nil {
		writeError(ctx, tensor.Errorf(tensor.NotFound, "this replica is alone: coordination.endpoints is not set"))
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"replica": s.fleet.Name(), "leader": s.fleet.Leading(),
		"connected": s.fleet.Connected(), "replicas": s.fleet.Replicas()})
}

// controlContext bounds a control operation (load, unload, rollout,
// traffic) by server.control_timeout and by the server's shutdown.
func (s *Server) controlContext(ctx *fasthttp.RequestCtx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.ControlTimeout)
}

func (s *Server) writeRollout(ctx *fasthttp.RequestCtx, name string) {
	st, t, err := s.rollouts.Status(name)
	if err != nil {
		writeError(ctx, err)
		return
	}
	view := rolloutView{Status: st, Traffic: t}
	if s.fleet != nil {
		view.Replicas = s.fleet.Replicas()
	}
	writeJSON(ctx, fasthttp.StatusOK, view)
}

func (s *Server) adminRollout(ctx *fasthttp.RequestCtx, r route) {
	if string(ctx.Method()) != "POST" {
		s.writeRollout(ctx, r.model)
		return
	}
	var req struct {
		Canary int64           `json:"canary"`
		Spec   json.RawMessage `json:"spec"` // laid over the model's default rollout
	}
	if err := s.decodeBody(ctx, &req); err != nil {
		writeError(ctx, err)
		return
	}
	cctx, cancel := s.controlContext(ctx)
	defer cancel()
	if _, err := s.rollouts.Start(cctx, r.model, req.Spec, req.Canary); err != nil {
		writeError(ctx, err)
		return
	}
	s.writeRollout(ctx, r.model)
}

func (s *Server) adminAction(ctx *fasthttp.RequestCtx, r route) {
	cctx, cancel := s.controlContext(ctx)
	defer cancel()
	if _, err := s.rollouts.Action(cctx, r.model, r.version); err != nil {
		writeError(ctx, err)
		return
	}
	s.writeRollout(ctx, r.model)
}

func (s *Server) adminTraffic(ctx *fasthttp.RequestCtx, r route) {
	var t registry.Traffic
	body, _, err := readBody(ctx, nil, s.cfg.MaxBodyBytes, nil)
	if err != nil {
		writeError(ctx, err)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		writeError(ctx, tensor.Errorf(tensor.InvalidArgument, "traffic: %v; expected {\"stable\": 1, \"canary\": 2, \"canary_weight\": 10}", err))
		return
	}
	cctx, cancel := s.controlContext(ctx)
	defer cancel()
	if err := s.rollouts.SetTraffic(cctx, r.model, t); err != nil {
		writeError(ctx, err)
		return
	}
	s.writeRollout(ctx, r.model)
}

// Drift is what the admin API shows of drift monitoring (package drift's
// Monitor).
type Drift interface {
	View(model string) (drift.ModelView, error)
}

var _ Drift = (*drift.Monitor)(nil)

// WithDrift serves d's view of each model at GET
// /v2/admin/models/{m}/drift.
func (s *Server) WithDrift(d Drift) *Server {
	s.drift = d
	return s
}

// adminDrift answers a model's drift: each served version's state and
// signals against its training profile, and the last retraining trigger.
func (s *Server) adminDrift(ctx *fasthttp.RequestCtx, r route) {
	if s.drift == nil {
		writeError(ctx, tensor.Errorf(tensor.NotFound, "drift monitoring is not running"))
		return
	}
	v, err := s.drift.View(r.model)
	if err != nil {
		writeError(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, v)
}

func (s *Server) adminAutoscale(ctx *fasthttp.RequestCtx) {
	if s.autoscale == nil {
		writeError(ctx, tensor.Errorf(tensor.NotFound, "the replica recommender is not running"))
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"models": s.autoscale.Snapshot()})
}
