package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sluice-serving/sluice/atomicfile"
	"github.com/sluice-serving/sluice/pipeline/data"
	"github.com/sluice-serving/sluice/pipeline/evaluate"
	"github.com/sluice-serving/sluice/pipeline/model"
	onnxexport "github.com/sluice-serving/sluice/pipeline/onnx"
	"github.com/sluice-serving/sluice/pipeline/train"
	"github.com/sluice-serving/sluice/runtime"
)

// The files each stage writes, relative to the run folder.
const (
	trainCSV   = "prep/train.csv"
	valCSV     = "prep/val.csv"
	testCSV    = "prep/test.csv"
	prepReport = "prep/report.json"
	modelJSON  = "train/model.json"
	history    = "train/history.json"
	onnxFile   = "export/model.onnx"
	checkJSON  = "export/check.json"
	cardJSON   = "evaluate/card.json"
	published  = "publish/published.json"
)

// MaxExportDiff is the most an exported graph's probability may differ
// from the Go model's on the test split.
const MaxExportDiff = 1e-5

func (p *Pipeline) prep() stage {
	opt := data.DefaultPrepOptions()
	opt.SkipBadRows, opt.Seed = p.cfg.SkipBadRows, p.cfg.Seed
	return stage{
		inputs: func() ([]string, error) {
			if p.cfg.Data == "" {
				return nil, fmt.Errorf("-data: empty, expected the student records (CSV in the UCI layout)")
			}
			return []string{absolute(p.cfg.Data)}, nil
		},
		outputs: []string{trainCSV, valCSV, testCSV, prepReport},
		params: func() map[string]string {
			return map[string]string{"seed": u64(opt.Seed), "skip_bad_rows": strconv.FormatBool(opt.SkipBadRows),
				"val_fraction": ftoa(opt.ValFraction), "test_fraction": ftoa(opt.TestFraction), "code": p.cfg.Code}
		},
		run: func(context.Context) error {
			f, err := os.Open(p.cfg.Data)
			if err != nil {
				return err
			}
			defer f.Close()
			tr, val, test, rep, err := data.Prep(f, opt)
			if err != nil {
				return err
			}
			for path, d := range map[string]data.Dataset{trainCSV: tr, valCSV: val, testCSV: test} {
				if err := d.Write(p.path(path)); err != nil {
					return err
				}
			}
			fmt.Fprintf(p.log, "          %d rows: %d skipped; train %d, validation %d, test %d\n", rep.Rows, rep.Skipped, rep.Train, rep.Val, rep.Test)
			return writeJSON(p.path(prepReport), rep)
		},
	}
}

func (p *Pipeline) train() stage {
	return stage{
		inputs:  files(trainCSV, valCSV),
		outputs: []string{modelJSON, history},
		params: func() map[string]string {
			b, _ := json.Marshal(p.cfg.Train)
			return map[string]string{"train": string(b), "code": p.cfg.Code}
		},
		run: func(context.Context) error {
			tr, err := data.ReadDataset(p.path(trainCSV))
			if err != nil {
				return err
			}
			val, err := data.ReadDataset(p.path(valCSV))
			if err != nil {
				return err
			}
			m, h, err := train.Train(tr, val, p.cfg.Train)
			if err != nil {
				return err
			}
			fmt.Fprintf(p.log, "          %s: best epoch %d of %d\n", m.Kind, h.BestEpoch, h.Epochs)
			if err := writeJSON(p.path(history), h); err != nil {
				return err
			}
			return writeJSON(p.path(modelJSON), m)
		},
	}
}

// exportCheck is what the export stage proved about its graph.
type exportCheck struct {
	Rows       int     `json:"rows"`
	MaxAbsDiff float64 `json:"max_abs_diff"`
	Limit      float64 `json:"limit"`
}

func (p *Pipeline) export() stage {
	return stage{
		inputs:  files(modelJSON, testCSV),
		outputs: []string{onnxFile, checkJSON},
		params:  func() map[string]string { return map[string]string{"model": p.cfg.Model, "code": p.cfg.Code} },
		run: func(context.Context) error {
			m, err := p.readModel()
			if err != nil {
				return err
			}
			b, err := onnxexport.Export(m, p.cfg.Model)
			if err != nil {
				return err
			}
			if err := atomicfile.Write(p.path(onnxFile), b); err != nil {
				return err
			}
			test, err := data.ReadDataset(p.path(testCSV))
			if err != nil {
				return err
			}
			diff, err := onnxexport.Verify(p.path(onnxFile), m, test.X)
			if err != nil {
				return err
			}
			if diff > MaxExportDiff {
				return fmt.Errorf("the exported graph differs from the trained model by %.3g on the test split, expected at most %g", diff, MaxExportDiff)
			}
			fmt.Fprintf(p.log, "          ONNX Runtime matches the Go model on %d rows: max |diff| %.3g\n", len(test.X), diff)
			return writeJSON(p.path(checkJSON), exportCheck{Rows: len(test.X), MaxAbsDiff: diff, Limit: MaxExportDiff})
		},
	}
}

func (p *Pipeline) readModel() (*model.Model, error) {
	var m model.Model
	if err := readJSON(p.path(modelJSON), &m); err != nil {
		return nil, err
	}
	return &m, m.Validate()
}

// absolute names a file outside the run folder so the manifest finds it
// again from any working folder.
func absolute(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// signature reads an ONNX file's inputs and outputs as a model card names
// them.
func signature(path string) (in, out []evaluate.IO, err error) {
	sig, err := runtime.ReadSignature(path)
	if err != nil {
		return nil, nil, err
	}
	conv := func(ios []runtime.IO) []evaluate.IO {
		out := make([]evaluate.IO, len(ios))
		for i, io := range ios {
			out[i] = evaluate.IO{Name: io.Name, DataType: io.DataType.String(), Shape: io.Dims}
		}
		return out
	}
	return conv(sig.Inputs), conv(sig.Outputs), nil
}
