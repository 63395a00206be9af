package data

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// generated is n records from Generate, the header first.
func generated(f *testing.F, n int, seed uint64) string {
	var b bytes.Buffer
	if err := Generate(&b, n, seed); err != nil {
		f.Fatal(err)
	}
	return b.String()
}

// FuzzPrep: Prep never panics; every error is a header error, a no-rows
// error, or names its row (a RowError names its column too, unless the
// row has the wrong number of fields); the rows kept are complete, finite
// feature vectors with a 0/1 label, split without loss.
func FuzzPrep(f *testing.F) {
	good := generated(f, 4, 7)
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n")
	bad := func(row int, col, v string) string {
		l := append([]string(nil), lines...)
		setField(l, row, col, v)
		return strings.Join(l, "\n") + "\n"
	}
	for _, s := range []string{
		good,
		strings.ReplaceAll(good, "\n", "\r\n"),
		"\ufeff" + good,
		bad(2, colAdmission, "abc"),
		bad(1, colAdmission, "NaN"),
		bad(3, colTarget, "graduate"),
		bad(1, "Age at enrollment", "14"),
		bad(2, "Age at enrollment", "2e1"),
		bad(1, "GDP", "Inf"),
		bad(4, colFees, " 1 "),
		bad(1, "Course", `"33"`),
		bad(1, "Course", `"3"3"`),
		lines[0] + "\n" + lines[1] + ";extra\n",
		lines[0] + "\n" + strings.SplitN(lines[1], ";", 2)[1] + "\n",
		lines[0] + "\n",
		strings.SplitN(lines[0], ";", 2)[1] + "\n" + lines[1] + "\n",
		"", ";", "\n\n", "\"", "Target\nGraduate\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, skip bool) {
		opt := DefaultPrepOptions()
		opt.SkipBadRows = skip
		train, val, test, rep, err := Prep(strings.NewReader(in), opt)
		for _, re := range rep.Errors {
			checkRowError(t, re, rep.Rows)
		}
		if len(rep.Errors) > maxReported || rep.Skipped > rep.Rows || len(rep.Errors) > rep.Skipped {
			t.Fatalf("report %+v: counts disagree", rep)
		}
		if err != nil {
			var re RowError
			var pe *csv.ParseError
			switch {
			case errors.Is(err, ErrHeader), errors.Is(err, ErrNoRows):
			case errors.As(err, &re):
				checkRowError(t, re, rep.Rows)
				if !strings.Contains(err.Error(), fmt.Sprintf("row %d", re.Row)) {
					t.Fatalf("error %q does not name row %d", err, re.Row)
				}
			case errors.As(err, &pe):
				if !strings.HasPrefix(err.Error(), fmt.Sprintf("row %d: ", rep.Rows+1)) || pe.Line < 1 || pe.Column < 1 {
					t.Fatalf("CSV error %q does not name its row, line and column", err)
				}
			default:
				t.Fatalf("Prep error %q (%T) names no row", err, errors.Unwrap(err))
			}
			return
		}
		if got := train.Len() + val.Len() + test.Len(); got != rep.Rows-rep.Skipped || got == 0 {
			t.Fatalf("%d rows read, %d skipped, %d split", rep.Rows, rep.Skipped, got)
		}
		for _, d := range []Dataset{train, val, test} {
			checkDataset(t, d)
		}
	})
}

func checkRowError(t *testing.T, re RowError, rows int) {
	t.Helper()
	if re.Row < 1 || re.Row > rows {
		t.Fatalf("%v: row %d outside 1..%d", re, re.Row, rows)
	}
	if re.Column == "" && !strings.HasSuffix(re.Value, " fields") {
		t.Fatalf("%v: names no column", re)
	}
	if re.Column != "" && (indexOf(re.Column) < 0 || !strings.Contains(re.Error(), fmt.Sprintf("column %q", re.Column))) {
		t.Fatalf("%v: names column %q, not one of the UCI columns", re, re.Column)
	}
}

func checkDataset(t *testing.T, d Dataset) {
	t.Helper()
	if len(d.X) != len(d.Y) {
		t.Fatalf("%d rows, %d labels", len(d.X), len(d.Y))
	}
	for i, x := range d.X {
		if len(x) != len(Features) {
			t.Fatalf("row %d has %d features, want %d", i+1, len(x), len(Features))
		}
		for j, v := range x {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("row %d, feature %s: %v", i+1, Features[j], v)
			}
		}
		if d.Y[i] != 0 && d.Y[i] != 1 {
			t.Fatalf("row %d: label %v", i+1, d.Y[i])
		}
	}
}

// FuzzReadDataset: ReadDataset never panics; its errors name the file
// and, for a bad row, the row; a dataset it reads has a 0/1 label per
// row, and writes and reads back bit for bit.
func FuzzReadDataset(f *testing.F) {
	head := strings.Join(header(), ",")
	row := strings.Repeat("0.5,", len(Features)) + "1"
	for _, s := range []string{
		head + "\n" + row + "\n" + strings.Repeat("1e-300,", len(Features)) + "0\n",
		head + "\n",
		head + "\n" + row,
		head + "\r\n" + row + "\r\n",
		head + "\n" + strings.Repeat("NaN,", len(Features)) + "-0\n",
		head + "\n" + strings.Repeat("Inf,", len(Features)) + "1\n",
		head + "\n" + strings.Repeat("0x1p-2,", len(Features)) + "1\n",
		head + "\n" + strings.Repeat("0.5,", len(Features)) + "2\n",
		head + "\n" + strings.Repeat("0.5,", len(Features)) + "NaN\n",
		head + "\n" + strings.Repeat("x,", len(Features)) + "1\n",
		head + "\n" + row + ",1\n",
		head + "\n0.5\n",
		head + ",extra\n" + row + ",1\n",
		"label\n1\n", "", "\n", "\"", head + "\n\"0.5\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "in.csv")
		if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := ReadDataset(path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), path+": ") {
				t.Fatalf("error %q does not name the file", err)
			}
			msg := strings.TrimPrefix(err.Error(), path+": ")
			var pe *csv.ParseError
			if !strings.HasPrefix(msg, "header is not") && !strings.HasPrefix(msg, "row ") && !errors.As(err, &pe) {
				t.Fatalf("error %q names no row", err)
			}
			if strings.HasPrefix(msg, "row ") && !strings.Contains(msg, ": column ") && !strings.Contains(msg, ": label ") {
				t.Fatalf("error %q names no column", err)
			}
			return
		}
		if len(d.X) != len(d.Y) {
			t.Fatalf("%d rows, %d labels", len(d.X), len(d.Y))
		}
		for i, x := range d.X {
			if len(x) != len(Features) || d.Y[i] != 0 && d.Y[i] != 1 {
				t.Fatalf("row %d: %d features, label %v", i+1, len(x), d.Y[i])
			}
		}
		out := filepath.Join(dir, "out.csv")
		if err := d.Write(out); err != nil {
			t.Fatal(err)
		}
		back, err := ReadDataset(out)
		if err != nil {
			t.Fatalf("a dataset read from %q does not read back: %v", in, err)
		}
		if fmt.Sprint(bitsOf(back)) != fmt.Sprint(bitsOf(d)) {
			t.Fatalf("%q reads as %v, round-trips as %v", in, d, back)
		}
	})
}

func bitsOf(d Dataset) [][]uint64 {
	var out [][]uint64
	for i, x := range d.X {
		var r []uint64
		for _, v := range append(append([]float64(nil), x...), d.Y[i]) {
			r = append(r, math.Float64bits(v))
		}
		out = append(out, r)
	}
	return out
}
