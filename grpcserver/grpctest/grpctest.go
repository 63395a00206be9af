// Package grpctest serves both of Sluice's front doors, HTTP and gRPC,
// over one real registry on loopback ports the OS chose, for the tests of
// the packages that talk to them (grpcserver, client, bench).
package grpctest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-serving/sluice/grpcserver"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/rollout"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/server"
)

// Doors is the two front doors over one registry until the test ends.
type Doors struct {
	HTTPAddr, GRPCAddr string
	Registry           *registry.Registry
	// Repo is the repository folder: copies the test may change.
	Repo     string
	Gatherer prometheus.Gatherer
}

// Serve copies models (name → folder under the repository root, such as
// "models/student-success") into a fresh repository in explicit control
// mode and serves it with the HTTP configuration hc, whose keys, admin
// token and rate buckets the gRPC door shares; tune, when not nil, adjusts
// the gRPC door's configuration.
func Serve(tb testing.TB, hc server.Config, tune func(*grpcserver.Config), models map[string]string) *Doors {
	tb.Helper()
	ortest.Init(tb)
	repo := tb.TempDir()
	for name, dir := range models {
		ortest.CopyModel(tb, dir, filepath.Join(repo, name))
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	promReg := prometheus.NewRegistry()
	rcfg := registry.DefaultConfig()
	rcfg.Path, rcfg.ControlMode = repo, registry.ModeExplicit
	reg, err := registry.New(rcfg, log, promReg)
	if err != nil {
		tb.Fatal(err)
	}
	reg.CheckRolloutSpecs(rollout.CheckConfig)
	ctl, err := rollout.New(reg, filepath.Join(repo, ".sluice"), log, promReg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := reg.LoadAll(context.Background()); err != nil {
		tb.Fatal(err)
	}
	hln, gln := listen(tb), listen(tb)
	hc.Addr = hln.Addr().String()
	srv := server.New(hc, reg, ctl, promReg, log)
	promReg.MustRegister(srv.Collectors()...)
	gc := grpcserver.Config{Addr: gln.Addr().String(), MaxMessageBytes: hc.MaxBodyBytes, MaxStreams: 64,
		InferTimeout: hc.InferTimeout, ControlTimeout: hc.ControlTimeout, RoutingKey: "sluice-routing-key"}
	if tune != nil {
		tune(&gc)
	}
	gs, err := grpcserver.New(gc, reg, ctl, srv.Gate(), log)
	if err != nil {
		tb.Fatal(err)
	}
	promReg.MustRegister(gs.Collectors()...)
	ctx, cancel := context.WithCancel(context.Background())
	httpDone, grpcDone := make(chan error, 1), make(chan error, 1)
	go func() { httpDone <- srv.Serve(ctx, hln, 5*time.Second) }()
	go func() { grpcDone <- gs.Serve(ctx, gln, 5*time.Second) }()
	// Cleanups run last-registered first: a test's clients, registered
	// after Serve returns, close before the doors drain.
	tb.Cleanup(func() {
		cancel()
		for _, done := range []chan error{httpDone, grpcDone} {
			if err := <-done; err != nil {
				tb.Errorf("serve: %v", err)
			}
		}
		ctl.Close()
		if err := reg.Close(context.Background()); err != nil {
			tb.Errorf("closing the registry: %v", err)
		}
	})
	return &Doors{HTTPAddr: hln.Addr().String(), GRPCAddr: gln.Addr().String(), Registry: reg, Repo: repo, Gatherer: promReg}
}

func listen(tb testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}
