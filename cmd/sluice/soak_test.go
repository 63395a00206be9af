package main

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/soak"
)

// asMain makes this test binary act as sluice itself when a test runs it
// as a child process (the soak's supervised server).
const asMain = "SLUICETEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" {
		if err := run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "sluice:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// make soak's short setting, which make test runs: forty seconds of mixed
// calls while both models are reloaded, a rollout is started, promoted,
// started again and aborted, and the server is restarted under the
// supervisor. Nothing may be lost, and every failure must be a refusal
// during the restart.
func TestShortSoakLosesNoCall(t *testing.T) {
	ortest.Init(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := soak.DefaultConfig()
	cfg.Serve, cfg.Env, cfg.Models = []string{exe, "serve"}, []string{asMain + "=1"}, ortest.Path(t, "models")
	cfg.Duration, cfg.ActionEvery, cfg.Rate, cfg.SampleEvery = 40*time.Second, 3*time.Second, 60, 2*time.Second
	cfg.Work = t.TempDir()
	rep, err := soak.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	t.Log("\n" + md.String())
	if err := rep.Err(); err != nil {
		t.Error(err)
	}
	if rep.Status[200] < rep.Sent/2 || rep.Servers < 2 || len(rep.Samples) == 0 {
		t.Errorf("%d calls sent, %d answered 200, %d servers run, %d samples: want most calls served across at least one restart",
			rep.Sent, rep.Status[200], rep.Servers, len(rep.Samples))
	}
	for _, a := range soak.Actions() {
		if rep.Actions[a] == nil || rep.Actions[a].Done == 0 {
			t.Errorf("action %q never ran", a)
		}
	}
}
