package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/pipeline/evaluate"
)

// CardFile is the model card's name beside a version's model.onnx; the
// gateway serves it at /v2/models/{m}/versions/{v}/card.
const CardFile = "model_card.json"

// stable is the version a candidate is judged against: the highest version
// folder of the model whose model.onnx is not the candidate's own (so a
// rerun after publishing compares with the same parent as before). Zero
// when the model has none.
func (p *Pipeline) stable(candidate string) (int64, error) {
	dir := filepath.Join(p.cfg.Repository, p.cfg.Model)
	vs, err := versions(dir)
	if err != nil {
		return 0, err
	}
	for _, v := range slices.Backward(vs) {
		sum, err := hashFile(filepath.Join(dir, strconv.FormatInt(v, 10), "model.onnx"))
		if err == nil && sum != candidate {
			return v, nil
		}
	}
	return 0, nil
}

// versions lists a model folder's positive integer folders, ascending; a
// missing folder has none.
func versions(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range entries {
		if v, err := strconv.ParseInt(e.Name(), 10, 64); err == nil && v > 0 && e.IsDir() {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (p *Pipeline) versionFile(v int64, name string) string {
	return filepath.Join(absolute(p.cfg.Repository), p.cfg.Model, strconv.FormatInt(v, 10), name)
}

func (p *Pipeline) evaluate() stage {
	return stage{
		inputs: func() ([]string, error) {
			in := []string{modelJSON, trainCSV, testCSV, valCSV, onnxFile}
			cand, err := hashFile(p.path(onnxFile))
			if err != nil {
				return nil, err
			}
			v, err := p.stable(cand)
			if v > 0 {
				in = append(in, p.versionFile(v, "model.onnx"))
				if _, err := os.Stat(p.versionFile(v, CardFile)); err == nil {
					in = append(in, p.versionFile(v, CardFile))
				}
			}
			return in, err
		},
		outputs: []string{cardJSON},
		params: func() map[string]string {
			return map[string]string{"min_auc": ftoa(p.cfg.Gate.MinAUC), "max_auc_drop": ftoa(p.cfg.Gate.MaxAUCDrop),
				"repository": absolute(p.cfg.Repository), "model": p.cfg.Model, "code": p.cfg.Code,
				"profile_bins": strconv.Itoa(p.cfg.ProfileBins)}
		},
		run: p.runEvaluate,
	}
}

// runEvaluate measures the candidate on the test and validation splits,
// profiles the training data and the candidate's outputs, writes its model
// card, and refuses it (the stage fails, publish never runs) when the gate
// says no.
func (p *Pipeline) runEvaluate(context.Context) error {
	m, err := p.readModel()
	if err != nil {
		return err
	}
	var tr, test, val data.Dataset
	for path, d := range map[string]*data.Dataset{trainCSV: &tr, testCSV: &test, valCSV: &val} {
		if *d, err = data.ReadDataset(p.path(path)); err != nil {
			return err
		}
	}
	card, err := p.card()
	if err != nil {
		return err
	}
	card.Kind, card.Metrics, card.Validation = m.Kind, evaluate.Measure(m, test), evaluate.Measure(m, val)
	card.Profile = evaluate.TrainingProfile(m, tr, val, p.cfg.ProfileBins)
	stable, err := p.stableCard(card.Parent)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.log, "          test AUC %.4f, accuracy %.4f, log loss %.4f, calibration error %.4f (%d rows)\n",
		card.Metrics.AUC, card.Metrics.Accuracy, card.Metrics.LogLoss, card.Metrics.CalibrationError, card.Metrics.N)
	if err := evaluate.CheckGate(card, stable, p.cfg.Gate); err != nil {
		return fmt.Errorf("the gate refuses this candidate: %w", err)
	}
	return writeJSON(p.path(cardJSON), card)
}

// card is the candidate's model card before its metrics: its signature,
// parent, data hash and parameters.
func (p *Pipeline) card() (evaluate.Card, error) {
	c := evaluate.Card{Model: p.cfg.Model, CodeVersion: p.cfg.Code, Params: p.cfg.Train}
	var err error
	if c.Inputs, c.Outputs, err = signature(p.path(onnxFile)); err != nil {
		return c, err
	}
	cand, err := hashFile(p.path(onnxFile))
	if err != nil {
		return c, err
	}
	if c.Parent, err = p.stable(cand); err != nil {
		return c, err
	}
	m, err := readManifest(p.cfg.Run)
	if err != nil {
		return c, err
	}
	for _, sum := range m.Stages["prep"].Inputs {
		c.DataHash = "sha256:" + sum
	}
	return c, nil
}

// stableCard is the parent's card, or one made from its model file's
// signature when it was published without one; nil without a parent.
func (p *Pipeline) stableCard(v int64) (*evaluate.Card, error) {
	if v == 0 {
		return nil, nil
	}
	var c evaluate.Card
	if err := readJSON(p.versionFile(v, CardFile), &c); err == nil {
		return &c, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	c = evaluate.Card{Model: p.cfg.Model, Version: v}
	var err error
	c.Inputs, c.Outputs, err = signature(p.versionFile(v, "model.onnx"))
	return &c, err
}

// publication is what publish did.
type publication struct {
	Version int64  `json:"version"`
	Folder  string `json:"folder"`
	Gateway string `json:"gateway,omitempty"`
	Reused  bool   `json:"reused,omitempty"`
}

func (p *Pipeline) publish() stage {
	return stage{
		inputs:  files(onnxFile, cardJSON, checkJSON),
		outputs: []string{published},
		params: func() map[string]string {
			return map[string]string{"repository": absolute(p.cfg.Repository), "model": p.cfg.Model, "gateway": p.cfg.Gateway, "code": p.cfg.Code}
		},
		run: p.runPublish,
	}
}

// runPublish writes the next version folder atomically (model and card
// together), then asks the gateway to load it as a canary, whose rollout
// promotes or rolls it back. A candidate already in the repository (a
// publish that wrote its folder but failed to reach the gateway) is not
// written twice.
func (p *Pipeline) runPublish(ctx context.Context) error {
	sum, err := hashFile(p.path(onnxFile))
	if err != nil {
		return err
	}
	pub, err := p.place(sum)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.log, "          version %d in %s\n", pub.Version, pub.Folder)
	if p.cfg.Gateway != "" {
		cctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
		c := client.New(p.cfg.Gateway, 1)
		c.Token = p.cfg.Token
		if err := c.Load(cctx, p.cfg.Model, map[string]any{"rollout": "canary"}); err != nil {
			return fmt.Errorf("version %d is in the repository, but the gateway %s did not load it as a canary: %w", pub.Version, p.cfg.Gateway, err)
		}
		pub.Gateway = p.cfg.Gateway
		fmt.Fprintf(p.log, "          the gateway %s loaded it as a canary; its rollout decides\n", p.cfg.Gateway)
	}
	return writeJSON(p.path(published), pub)
}

// place finds the candidate's version folder, or writes the next one.
func (p *Pipeline) place(sum string) (publication, error) {
	dir := filepath.Join(p.cfg.Repository, p.cfg.Model)
	vs, err := versions(dir)
	if err != nil {
		return publication{}, err
	}
	for _, v := range vs {
		if got, err := hashFile(p.versionFile(v, "model.onnx")); err == nil && got == sum {
			return publication{Version: v, Folder: filepath.Dir(p.versionFile(v, "model.onnx")), Reused: true}, nil
		}
	}
	next := int64(1)
	if len(vs) > 0 {
		next = vs[len(vs)-1] + 1
	}
	var card evaluate.Card
	var check exportCheck
	if err := readJSON(p.path(cardJSON), &card); err != nil {
		return publication{}, err
	}
	if err := readJSON(p.path(checkJSON), &check); err != nil {
		return publication{}, err
	}
	card.Version, card.ExportMaxDiff = next, check.MaxAbsDiff
	folder := filepath.Dir(p.versionFile(next, "model.onnx"))
	return publication{Version: next, Folder: folder}, p.writeVersion(folder, card)
}

// writeVersion fills a folder under the repository's hidden .publish (the
// poller skips dot folders) and renames it into place: the gateway never
// sees half a version.
func (p *Pipeline) writeVersion(folder string, card evaluate.Card) error {
	staging := filepath.Join(p.cfg.Repository, ".publish")
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(folder), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(staging, p.cfg.Model+"-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	model, err := os.ReadFile(p.path(onnxFile))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "model.onnx"), model, 0o644); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(tmp, CardFile), card); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, folder)
}
