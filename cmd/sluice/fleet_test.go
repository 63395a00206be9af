package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/coordination/etcdtest"
)

// TestServeJoinsAFleet runs `sluice serve` with coordination.endpoints set
// to a real (embedded) etcd: the replica joins under its name, leads a
// fleet of one, shows itself at /v2/admin/fleet, and `sluice rollout
// status` lists it.
func TestServeJoinsAFleet(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	addr := startServe(t, studentRepo(t), "-coordination.endpoints", strings.Join(cluster.AllEndpoints(), ","),
		"-coordination.replica", "replica-a", "-coordination.lease_ttl", "2s", "-coordination.publish_interval", "100ms")
	var fleet struct {
		Replica   string
		Leader    bool
		Connected bool
		Replicas  []struct {
			Replica  string
			Ready    bool
			Versions map[string][]int64
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/admin/fleet")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/v2/admin/fleet: %d %s", resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, &fleet); err != nil {
			t.Fatal(err)
		}
		if fleet.Leader && fleet.Connected && len(fleet.Replicas) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica never led a connected fleet of one: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if fleet.Replica != "replica-a" || fleet.Replicas[0].Replica != "replica-a" || !fleet.Replicas[0].Ready || len(fleet.Replicas[0].Versions["student-success"]) != 2 {
		t.Errorf("fleet view: %+v", fleet)
	}
	var out, errOut bytes.Buffer
	if err := run([]string{"rollout", "status", "-url", "http://" + addr, "student-success"}, os.Environ(), &out, &errOut); err != nil {
		t.Fatalf("rollout status: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "replicas (1):") || !strings.Contains(out.String(), "replica-a") {
		t.Errorf("rollout status does not list the replica:\n%s", out.String())
	}
	// Metrics say so too.
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"sluice_coordination_connected 1", "sluice_coordination_leader 1", "sluice_coordination_members 1"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
}
