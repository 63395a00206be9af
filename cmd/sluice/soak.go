package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sluice-serving/sluice/soak"
)

// The section of docs/reliability.md that make soak rewrites.
const (
	soakBegin = "<!-- make soak: begin -->"
	soakEnd   = "<!-- make soak: end -->"
)

// soakCmd is `sluice soak`: this binary's own `serve` under the soak's
// supervisor, on a copy of the repository.
func soakCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := soak.DefaultConfig()
	fs.StringVar(&cfg.Models, "models", cfg.Models, "repository holding ppocr-cls and student-success, copied for the soak")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the soak lasts")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "calls per second, every kind together")
	fs.DurationVar(&cfg.ActionEvery, "action-every", cfg.ActionEvery, "one reload, rollout step or restart this often")
	fs.DurationVar(&cfg.SampleEvery, "sample-every", cfg.SampleEvery, "how often the server's memory and goroutines are read")
	fs.StringVar(&cfg.Work, "work", "", "folder for the repository copy and the servers' logs (default: a temporary one, removed)")
	out := fs.String("out", "", "markdown file whose make-soak section is rewritten with the report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Serve, cfg.Log = []string{exe, "serve"}, stderr
	rep, err := soak.Run(ctx, cfg)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	fmt.Fprintf(&md, "%s\n\n### Soak (`make soak`)\n\n%s. An open loop of %.0f calls/s of six kinds (ppocr-cls and student-success, JSON and binary, with and without routing keys) for %v, while one action runs every %v in turn: %s.\n\n",
		soakBegin, machine(), cfg.Rate, cfg.Duration, cfg.ActionEvery, strings.Join(soak.Actions(), ", "))
	rep.Markdown(&md)
	fmt.Fprintf(&md, "\n%s\n", soakEnd)
	fmt.Fprint(stdout, md.String())
	if *out != "" {
		if err := replaceSection(*out, md.String(), soakBegin, soakEnd); err != nil {
			return err
		}
	}
	return rep.Err()
}
