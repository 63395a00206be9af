package data

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"slices"
	"strconv"
)

// Dataset is rows of Features with a 0/1 label each.
type Dataset struct {
	X [][]float64
	Y []float64
}

// Len is the number of rows.
func (d Dataset) Len() int { return len(d.Y) }

// header is the prepared CSV's first line.
func header() []string { return append(slices.Clone(Features), "label") }

// Write stores d as comma-separated values under a header of Features and
// "label". Shortest exact formatting makes a read give back the same bits
// and equal data give byte-identical files.
func (d Dataset) Write(path string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	b := bufio.NewWriter(f)
	w := csv.NewWriter(b)
	if err := w.Write(header()); err != nil {
		return err
	}
	for i, x := range d.X {
		rec := make([]string, 0, len(x)+1)
		for _, v := range append(slices.Clone(x), d.Y[i]) {
			rec = append(rec, strconv.FormatFloat(v, 'g', -1, 64))
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return b.Flush()
}

// ReadDataset reads a file Write wrote; it checks the header and that every
// label is 0 or 1.
func ReadDataset(path string) (Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return Dataset{}, err
	}
	defer f.Close()
	recs, err := csv.NewReader(bufio.NewReader(f)).ReadAll()
	if err != nil {
		return Dataset{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], header()) {
		return Dataset{}, fmt.Errorf("%s: header is not %v", path, header())
	}
	var d Dataset
	for i, rec := range recs[1:] {
		if err := d.appendRecord(rec); err != nil {
			return Dataset{}, fmt.Errorf("%s: row %d: %w", path, i+1, err)
		}
	}
	return d, nil
}

// appendRecord parses one prepared row onto d.
func (d *Dataset) appendRecord(rec []string) error {
	v := make([]float64, len(rec))
	for j, s := range rec {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("column %q: %q, expected a number", header()[j], s)
		}
		v[j] = f
	}
	y := v[len(v)-1]
	if y != 0 && y != 1 {
		return fmt.Errorf("label %v, expected 0 or 1", y)
	}
	d.X = append(d.X, v[:len(v)-1])
	d.Y = append(d.Y, y)
	return nil
}
