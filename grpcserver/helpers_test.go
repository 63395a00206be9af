package grpcserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluice-serving/sluice/grpcserver"
	"github.com/sluice-serving/sluice/grpcserver/grpctest"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/server"
	"github.com/sluice-serving/sluice/tritonpb"
)

// fixture is both front doors over one registry and a gRPC client
// generated from the same protos.
type fixture struct {
	httpURL  string
	grpcAddr string
	grpc     tritonpb.GRPCInferenceServiceClient
	reg      *registry.Registry
	repo     string
	gatherer prometheus.Gatherer
}

var modelDirs = map[string]string{
	"student-success": "models/student-success",
	"alltypes":        "testdata/models/alltypes",
	"rowid":           "testdata/models/rowid",
}

// start serves models with the HTTP configuration hc (whose keys, token and
// limits both doors share); tune adjusts the gRPC door's.
func start(t *testing.T, hc server.Config, tune func(*grpcserver.Config), models ...string) *fixture {
	t.Helper()
	dirs := map[string]string{}
	for _, m := range models {
		dirs[m] = modelDirs[m]
	}
	d := grpctest.Serve(t, hc, tune, dirs)
	conn, err := grpc.NewClient(d.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &fixture{httpURL: "http://" + d.HTTPAddr, grpcAddr: d.GRPCAddr, grpc: tritonpb.NewGRPCInferenceServiceClient(conn), reg: d.Registry, repo: d.Repo, gatherer: d.Gatherer}
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
