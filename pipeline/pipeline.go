package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sluice-serving/sluice/pipeline/evaluate"
	"github.com/sluice-serving/sluice/pipeline/train"
	"github.com/sluice-serving/sluice/profile"
)

// Config is what every stage may read; each records the part it uses.
type Config struct {
	Run         string // the run folder: the manifest and every stage's files
	Data        string // the student records, CSV in the UCI layout
	SkipBadRows bool   // skip rows that fail the schema instead of failing
	Seed        uint64 // the split's seed (the trainer has its own in Train)
	Train       train.Config
	Gate        evaluate.Gate
	Repository  string // the model repository publish writes into
	Model       string // the model's name in it
	Gateway     string // the gateway publish asks to load the canary ("" : none)
	Token       string // the gateway's admin bearer token, when it has one
	Code        string // the code version, recorded in the model card
	// ProfileBins is how many quantile bins each input feature gets in the
	// card's training profile.
	ProfileBins int
	// Timeout bounds the gateway's answer to publish's load.
	Timeout time.Duration
}

// DefaultConfig is the student-success pipeline over models/.
func DefaultConfig() Config {
	return Config{Seed: 1, Train: train.DefaultConfig(), Gate: evaluate.Gate{MinAUC: 0.7},
		Repository: "models", Model: "student-success", Timeout: 5 * time.Minute, ProfileBins: profile.DefaultBins}
}

// Validate names the setting that is wrong.
func (c Config) Validate() error {
	switch {
	case c.Run == "":
		return fmt.Errorf("-run: empty, expected the run folder")
	case c.Model == "":
		return fmt.Errorf("-model: empty, expected the model's name in the repository")
	case c.Gate.MinAUC < 0 || c.Gate.MinAUC > 1:
		return fmt.Errorf("-min-auc: %v, expected 0 to 1", c.Gate.MinAUC)
	case c.Gate.MaxAUCDrop < 0:
		return fmt.Errorf("-max-auc-drop: %v, expected 0 or more", c.Gate.MaxAUCDrop)
	case c.ProfileBins < 1 || c.ProfileBins > maxProfileBins:
		return fmt.Errorf("-profile-bins: %d, expected 1 to %d", c.ProfileBins, maxProfileBins)
	}
	return c.Train.Validate()
}

// maxProfileBins is the most bins a card's profile may hold per feature,
// as profile.Check accepts them.
const maxProfileBins = 256

// Stages in the order the DAG runs them: prep → train → export →
// evaluate → publish (evaluate judges the exported graph's signature, and
// names the stable version it was compared with).
var Stages = []string{"prep", "train", "export", "evaluate", "publish"}

// Pipeline runs stages over one run folder.
type Pipeline struct {
	cfg Config
	log io.Writer // progress, one line a stage
}

// New checks cfg and makes the run folder.
func New(cfg Config, progress io.Writer) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Run, 0o755); err != nil {
		return nil, fmt.Errorf("-run: %w", err)
	}
	return &Pipeline{cfg: cfg, log: progress}, nil
}

// Run executes the whole DAG, skipping the stages whose inputs and
// parameters did not change since they last ran. It returns which ran. It
// stops before the next stage once ctx ends (a stage that ignores ctx, such
// as training, finishes first).
func (p *Pipeline) Run(ctx context.Context) ([]string, error) {
	var ran []string
	for _, name := range Stages {
		if err := ctx.Err(); err != nil {
			return ran, fmt.Errorf("stopped before %s: %w", name, err)
		}
		did, err := p.Stage(ctx, name)
		if err != nil {
			return ran, err
		}
		if did {
			ran = append(ran, name)
		}
	}
	return ran, nil
}

// Stage runs one stage unless its record shows it would do the same work
// again; ran is false when it was skipped.
func (p *Pipeline) Stage(ctx context.Context, name string) (ran bool, err error) {
	st, ok := p.stage(name)
	if !ok {
		return false, fmt.Errorf("stage %q: expected one of %v", name, Stages)
	}
	m, err := readManifest(p.cfg.Run)
	if err != nil {
		return false, err
	}
	ins, err := st.inputs()
	if err != nil {
		return false, fmt.Errorf("%s: %w (run the stages before it first)", name, err)
	}
	inputs, err := hashAll(p.cfg.Run, ins)
	if err != nil {
		return false, fmt.Errorf("%s: %w (run the stages before it first)", name, err)
	}
	params := st.params()
	if rec, ok := m.Stages[name]; ok && rec.current(params, inputs, p.cfg.Run) {
		fmt.Fprintf(p.log, "%-9s unchanged, skipped\n", name)
		return false, nil
	}
	for _, out := range st.outputs {
		if err := os.MkdirAll(filepath.Dir(p.path(out)), 0o755); err != nil {
			return false, err
		}
	}
	start := time.Now()
	if err := st.run(ctx); err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	outputs, err := hashAll(p.cfg.Run, st.outputs)
	if err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	m.Stages[name] = Record{Params: params, Inputs: inputs, Outputs: outputs}
	if err := m.write(p.cfg.Run); err != nil {
		return false, err
	}
	fmt.Fprintf(p.log, "%-9s done in %v\n", name, time.Since(start).Round(time.Millisecond))
	return true, nil
}

// stage is one step: the files it reads and writes (relative to the run
// folder unless absolute), the parameters it depends on, and its work.
type stage struct {
	inputs  func() ([]string, error)
	outputs []string
	params  func() map[string]string
	run     func(ctx context.Context) error
}

func (p *Pipeline) stage(name string) (stage, bool) {
	switch name {
	case "prep":
		return p.prep(), true
	case "train":
		return p.train(), true
	case "export":
		return p.export(), true
	case "evaluate":
		return p.evaluate(), true
	case "publish":
		return p.publish(), true
	}
	return stage{}, false
}

func (p *Pipeline) path(parts ...string) string {
	return filepath.Join(append([]string{p.cfg.Run}, parts...)...)
}

func files(paths ...string) func() ([]string, error) {
	return func() ([]string, error) { return paths, nil }
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }
