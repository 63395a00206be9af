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

	"github.com/sluice-serving/sluice/pipeline"
	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/server"
)

const pipelineUsage = `usage:
  sluice pipeline gen-data -out FILE [-rows N] [-seed N]
                          synthetic student records in the UCI layout
  sluice pipeline run -run DIR -data FILE [flags]
                          the whole DAG; stages whose inputs did not change are skipped
  sluice pipeline prep|train|export|evaluate|publish -run DIR [flags]
                          one stage, as a workflow engine runs it
`

// pipelineCmd runs gen-data, one stage, or the whole pipeline.
func pipelineCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, pipelineUsage)
		return errors.New("pipeline: no stage given")
	}
	if args[0] == "gen-data" {
		return genData(args[1:], stdout, stderr)
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
	if err := data.Generate(f, *rows, *seed); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d synthetic student records to %s\n", *rows, *out)
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
