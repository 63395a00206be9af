package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/pipeline"
	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/server"
)

const pipelineUsage = `usage:
  sluice pipeline gen-data -out FILE [-rows N] [-seed N] [-ability-shift X] [-pass-shift X]
                          synthetic student records in the UCI layout, shifted to drift if asked
  sluice pipeline run -run DIR -data FILE [flags]
                          the whole DAG; stages whose inputs did not change are skipped
  sluice pipeline prep|train|export|evaluate|publish -run DIR [flags]
                          one stage, as a workflow engine runs it
  sluice pipeline watch -data-dir DIR [-listen ADDR] [-poll D] [-cooldown D] -- RUN FLAGS
                          run the pipeline on the newest data when a file lands in DIR or a
                          CloudEvent (such as the gateway's drift trigger) arrives at ADDR
  sluice pipeline replay -data FILE -gateway URL [-model NAME] [-calls N] [-workers N]
                          send a file of student records to the gateway as inference calls
`

// pipelineCmd runs gen-data, one stage, the whole pipeline, the watcher
// that reruns it, or a replay of data against a gateway.
func pipelineCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, pipelineUsage)
		return errors.New("pipeline: no stage given")
	}
	switch args[0] {
	case "gen-data":
		return genData(args[1:], stdout, stderr)
	case "watch":
		return pipelineWatch(ctx, args[1:], environ, stderr)
	case "replay":
		return pipelineReplay(ctx, args[1:], stdout, stderr)
	}
	if args[0] != "run" && !slices.Contains(pipeline.Stages, args[0]) {
		fmt.Fprint(stderr, pipelineUsage)
		return fmt.Errorf("pipeline: unknown stage %q", args[0])
	}
	cfg, lib, help, err := pipelineFlags(args[0], args[1:], environ, stderr)
	if help || err != nil {
		return err
	}
	if _, err := initRuntime(lib); err != nil { // export proves its graph in ONNX Runtime
		return err
	}
	p, err := pipeline.New(cfg, stdout)
	if err != nil {
		return err
	}
	if args[0] != "run" {
		_, err := p.Stage(ctx, args[0])
		return err
	}
	ran, err := p.Run(ctx)
	if err == nil && len(ran) == 0 {
		fmt.Fprintln(stdout, "nothing to do: every stage is up to date")
	}
	return err
}

// pipelineFlags reads a stage's flags; the ONNX Runtime library comes from
// -runtime-library, ONNXRUNTIME_LIB or the make ort copy, as for serve.
func pipelineFlags(stage string, args, environ []string, stderr io.Writer) (pipeline.Config, string, bool, error) {
	cfg := pipeline.DefaultConfig()
	cfg.Code = server.Version
	fs := flag.NewFlagSet("sluice pipeline "+stage, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Run, "run", "", "run folder: the manifest and every stage's files")
	fs.StringVar(&cfg.Data, "data", "", "student records, CSV in the UCI layout (prep)")
	fs.BoolVar(&cfg.SkipBadRows, "skip-bad-rows", false, "skip rows that fail the schema, and count them (prep)")
	seed := fs.Uint64("seed", cfg.Seed, "seed of the split and of training")
	fs.StringVar(&cfg.Train.Kind, "kind", cfg.Train.Kind, "logreg or mlp (train)")
	hidden := fs.String("hidden", joinInts(cfg.Train.Hidden), "hidden layer sizes of the MLP, comma-separated (train)")
	fs.Float64Var(&cfg.Train.LearningRate, "learning-rate", cfg.Train.LearningRate, "step size (train)")
	fs.IntVar(&cfg.Train.MaxEpochs, "epochs", cfg.Train.MaxEpochs, "most epochs (train)")
	fs.IntVar(&cfg.Train.Patience, "patience", cfg.Train.Patience, "epochs without a better validation loss before stopping (train)")
	fs.Float64Var(&cfg.Gate.MinAUC, "min-auc", cfg.Gate.MinAUC, "the lowest test AUC that may be published (evaluate)")
	fs.Float64Var(&cfg.Gate.MaxAUCDrop, "max-auc-drop", cfg.Gate.MaxAUCDrop, "how far below the stable version's AUC a candidate may be (evaluate)")
	fs.StringVar(&cfg.Repository, "repository", cfg.Repository, "model repository (evaluate, publish)")
	fs.StringVar(&cfg.Model, "model", cfg.Model, "model name in the repository")
	fs.StringVar(&cfg.Gateway, "gateway", "", "gateway URL to load the new version as a canary (publish; empty: write the folder only)")
	fs.IntVar(&cfg.ProfileBins, "profile-bins", cfg.ProfileBins, "quantile bins of each input feature in the card's training profile (evaluate)")
	lib := fs.String("runtime-library", "", "libonnxruntime path (default: ONNXRUNTIME_LIB or the make ort copy)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return cfg, "", true, nil
	} else if err != nil {
		return cfg, "", false, err
	}
	cfg.Seed, cfg.Train.Seed = *seed, *seed
	cfg.Token = envValue(environ, "SLUICE_SERVER_ADMIN_TOKEN")
	var err error
	if cfg.Train.Hidden, err = parseInts(*hidden); err != nil {
		return cfg, "", false, fmt.Errorf("-hidden: %w", err)
	}
	path := *lib
	if path == "" {
		path = envValue(environ, "ONNXRUNTIME_LIB")
	}
	return cfg, path, false, nil
}

func genData(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice pipeline gen-data", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "file to write (CSV in the UCI layout)")
	rows := fs.Int("rows", 4424, "records to write (the UCI data set has 4,424)")
	seed := fs.Uint64("seed", 1, "seed")
	var shift data.Shift
	fs.Float64Var(&shift.Ability, "ability-shift", 0, "move the students' latent ability by this many standard deviations (negative: lower grades)")
	fs.Float64Var(&shift.Pass, "pass-shift", 0, "add this to the logit of passing each course unit (negative: fewer units approved)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *out == "" || *rows < 1 {
		return fmt.Errorf("gen-data: -out %q -rows %d, expected a file and at least one row", *out, *rows)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := data.GenerateShifted(f, *rows, *seed, shift); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if shift != (data.Shift{}) {
		fmt.Fprintf(stdout, "wrote %d synthetic student records to %s, ability shifted by %v and the pass logit by %v\n", *rows, *out, shift.Ability, shift.Pass)
		return nil
	}
	fmt.Fprintf(stdout, "wrote %d synthetic student records to %s\n", *rows, *out)
	return nil
}

// pipelineReplay sends a file of student records (the UCI layout gen-data writes)
// to a gateway, one call a record.
func pipelineReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice pipeline replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("data", "", "student records, CSV in the UCI layout (as gen-data writes)")
	gateway := fs.String("gateway", "", "gateway base URL, such as http://127.0.0.1:8000")
	model := fs.String("model", pipeline.DefaultConfig().Model, "model to call")
	calls := fs.Int("calls", 0, "calls to send, taking the records in turn (default: each record once)")
	workers := fs.Int("workers", 4, "calls in flight at once")
	skip := fs.Bool("skip-bad-rows", false, "leave out records that fail the schema instead of failing")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *file == "" || *gateway == "" {
		return fmt.Errorf("replay: -data %q -gateway %q, expected a records file and the gateway's URL", *file, *gateway)
	}
	f, err := os.Open(*file)
	if err != nil {
		return fmt.Errorf("-data: %w", err)
	}
	d, _, err := data.Records(f, *skip)
	f.Close()
	if err != nil {
		return fmt.Errorf("-data %s: %w", *file, err)
	}
	n := *calls
	if n == 0 {
		n = d.Len()
	}
	start := time.Now()
	if err := pipeline.Replay(ctx, client.New(*gateway, *workers), *model, d.X, n, *workers); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replayed %d calls of %d records from %s to %s in %v\n", n, d.Len(), *file, *model, time.Since(start).Round(time.Millisecond))
	return nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func parseInts(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q, expected positive sizes such as 16,8", s)
		}
		out = append(out, n)
	}
	return out, nil
}
