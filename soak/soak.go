// Package soak runs a long mixed load against `sluice serve` while the
// server is reloaded, rolled out and restarted under a supervisor, and
// accounts for every call: answered (by status), refused because the server
// was intentionally down, or lost. A soak passes when nothing is lost and
// every failure is an expected refusal.
//
// The server runs as a child process (Config.Serve) on a copy of a model
// repository holding ppocr-cls and student-success, with its access log
// on: every call carries its own X-Request-Id, so a call the client got no
// answer to can be looked up in what the server says it answered.
package soak

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sluice-serving/sluice/client"
)

// Config is one soak.
type Config struct {
	// Serve is the server's command line up to its flags, e.g.
	// ["/usr/local/bin/sluice", "serve"]; Env is added to its environment.
	Serve []string
	Env   []string
	// Models is the repository the soak copies: ppocr-cls and
	// student-success (versions 1 and 2) as in models/.
	Models      string
	Duration    time.Duration
	Rate        float64       // calls per second, every kind together
	ActionEvery time.Duration // one reload, rollout step or restart this often
	SampleEvery time.Duration // the server's memory and goroutines
	// Work is a folder for the repository copy and the server's logs;
	// empty: a temporary one, removed afterwards.
	Work string
	Log  io.Writer // progress lines; nil: none
}

// DefaultConfig is ten minutes at 150 calls/s, an action every 10 s.
func DefaultConfig() Config {
	return Config{Models: "models", Duration: 10 * time.Minute, Rate: 150, ActionEvery: 10 * time.Second, SampleEvery: 5 * time.Second}
}

// Run soaks until cfg.Duration has passed or ctx ends, and reports.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.Serve) == 0 || cfg.Duration <= 0 || cfg.Rate <= 0 || cfg.ActionEvery <= 0 || cfg.SampleEvery <= 0 {
		return nil, fmt.Errorf("soak: serve %q, duration %v, rate %v, action every %v, sample every %v: expected a command and values above 0",
			cfg.Serve, cfg.Duration, cfg.Rate, cfg.ActionEvery, cfg.SampleEvery)
	}
	work := cfg.Work
	if work == "" {
		dir, err := os.MkdirTemp("", "sluice-soak-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	repo := filepath.Join(work, "models")
	for _, m := range []string{"ppocr-cls", "student-success"} {
		if err := os.CopyFS(filepath.Join(repo, m), os.DirFS(filepath.Join(cfg.Models, m))); err != nil {
			return nil, fmt.Errorf("soak: copying model %s: %w", m, err)
		}
	}
	sup := &supervisor{cfg: cfg, repo: repo, logs: work}
	if err := sup.start(ctx); err != nil {
		return nil, err
	}
	defer sup.stop()

	c := client.New(sup.url(), 256)
	kinds, err := prepareKinds(c)
	if err != nil {
		return nil, err
	}
	s := &soaker{cfg: cfg, sup: sup, c: c, kinds: kinds, rep: newReport()}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { s.load(runCtx) })
	wg.Go(func() { s.act(runCtx) })
	wg.Go(func() { s.sample(runCtx, start) })
	wg.Wait()
	s.rep.Duration = time.Since(start)
	sup.stop()
	if err := s.settle(sup); err != nil {
		return s.rep, err
	}
	return s.rep, ctx.Err()
}

// progress writes a line to cfg.Log.
func (c Config) progress(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "soak: "+format+"\n", args...)
	}
}
