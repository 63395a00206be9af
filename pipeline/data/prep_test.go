package data

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// records is n generated records as lines, the header first.
func records(t *testing.T, n int) []string {
	t.Helper()
	var b bytes.Buffer
	if err := Generate(&b, n, 3); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// setField replaces field col (a column name) of line row in lines.
func setField(lines []string, row int, col, v string) {
	f := strings.Split(lines[row], ";")
	f[indexOf(col)] = v
	lines[row] = strings.Join(f, ";")
}

func TestPrepSample(t *testing.T) {
	f, err := os.Open(sample)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, val, test, rep, err := Prep(f, DefaultPrepOptions())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != sampleRows || rep.Skipped != 0 || rep.Train+rep.Val+rep.Test != sampleRows {
		t.Errorf("report %+v, want %d rows, none skipped, all split", rep, sampleRows)
	}
	if rep.Train != tr.Len() || rep.Val != val.Len() || rep.Test != test.Len() || val.Len() == 0 || test.Len() == 0 {
		t.Errorf("splits %d/%d/%d, report %+v", tr.Len(), val.Len(), test.Len(), rep)
	}
	if rep.PositiveShare < 0.5 || rep.PositiveShare > 0.85 {
		t.Errorf("positive share %v, want the generator's 0.5–0.85", rep.PositiveShare)
	}
	for _, x := range tr.X {
		if len(x) != len(Features) || x[2] < 0 || x[2] > 1 || x[6]*(1-x[6]) != 0 {
			t.Fatalf("row %v: want %d features, ratio in [0,1], fees 0/1", x, len(Features))
		}
	}
}

func TestPrepBadRows(t *testing.T) {
	tests := []struct {
		name  string
		edit  func([]string)
		want  RowError
		inMsg string
	}{
		{"wrong type", func(l []string) { setField(l, 2, "Age at enrollment", "abc") },
			RowError{2, "Age at enrollment", "abc", "an integer 15–100"}, `row 2, column "Age at enrollment": "abc", expected an integer 15–100`},
		{"out of range", func(l []string) { setField(l, 3, colAdmission, "250") },
			RowError{3, colAdmission, "250", "a number 0–200"}, "a number 0–200"},
		{"not binary", func(l []string) { setField(l, 1, "Debtor", "2") },
			RowError{1, "Debtor", "2", "0 or 1"}, "0 or 1"},
		{"unknown target", func(l []string) { setField(l, 4, colTarget, "Transferred") },
			RowError{4, colTarget, "Transferred", "one of Dropout, Enrolled, Graduate"}, "Transferred"},
		{"wrong column count", func(l []string) { l[5] += ";1" },
			RowError{5, "", "38 fields", "37 fields"}, "row 5: 38 fields, expected 37 fields"},
		{"NaN", func(l []string) { setField(l, 2, "GDP", "NaN") },
			RowError{2, "GDP", "NaN", "a number -50–50"}, "GDP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := records(t, 40)
			tt.edit(lines)
			in := strings.Join(lines, "\n")
			_, _, _, _, err := Prep(strings.NewReader(in), DefaultPrepOptions())
			var re RowError
			if !errors.As(err, &re) || re != tt.want || !strings.Contains(err.Error(), tt.inMsg) {
				t.Fatalf("err %v, want %+v saying %q", err, tt.want, tt.inMsg)
			}
			opt := DefaultPrepOptions()
			opt.SkipBadRows = true
			_, _, _, rep, err := Prep(strings.NewReader(in), opt)
			if err != nil || rep.Rows != 40 || rep.Skipped != 1 || len(rep.Errors) != 1 || rep.Errors[0] != tt.want ||
				rep.Train+rep.Val+rep.Test != 39 {
				t.Errorf("skipping: err %v, report %+v; want 40 rows, 1 skipped, 39 split", err, rep)
			}
		})
	}
}

func TestPrepHeader(t *testing.T) {
	tests := []struct {
		name  string
		edit  func([]string)
		wants []string
	}{
		{"missing column", func(l []string) { dropColumn(l, "Debtor") }, []string{`missing columns ["Debtor"]`}},
		{"unknown column", func(l []string) { l[0] = strings.Replace(l[0], "GDP", "GNP", 1) },
			[]string{`unknown columns ["GNP"]`, `missing columns ["GDP"]`}},
		{"duplicate", func(l []string) { l[0] = strings.Replace(l[0], "GDP", "Target", 1) }, []string{`"Target" appears twice`}},
		{"empty", func(l []string) { l[0] = "" }, []string{"header"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := records(t, 5)
			tt.edit(lines)
			_, _, _, _, err := Prep(strings.NewReader(strings.Join(lines, "\n")), DefaultPrepOptions())
			if !errors.Is(err, ErrHeader) {
				t.Fatalf("err %v, want ErrHeader", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q lacks %q", err, w)
				}
			}
		})
	}
}

// dropColumn removes one column from every line.
func dropColumn(lines []string, name string) {
	i := indexOf(name)
	for k, l := range lines {
		f := strings.Split(l, ";")
		lines[k] = strings.Join(slices.Delete(f, i, i+1), ";")
	}
}

func TestPrepAcceptsHeaderVariants(t *testing.T) {
	lines := records(t, 30)
	lines[0] = "\ufeff" + strings.Replace(lines[0], "attendance\t", "attendance", 1)
	_, _, _, rep, err := Prep(strings.NewReader(strings.Join(lines, "\n")), DefaultPrepOptions())
	if err != nil || rep.Rows != 30 {
		t.Errorf("header without the tab, with a BOM: err %v, report %+v", err, rep)
	}
}

func TestPrepAllBad(t *testing.T) {
	lines := records(t, 3)
	for r := 1; r <= 3; r++ {
		setField(lines, r, "Course", "x")
	}
	opt := DefaultPrepOptions()
	opt.SkipBadRows = true
	_, _, _, rep, err := Prep(strings.NewReader(strings.Join(lines, "\n")), opt)
	if !errors.Is(err, ErrNoRows) || rep.Skipped != 3 {
		t.Errorf("err %v, report %+v; want ErrNoRows with 3 skipped", err, rep)
	}
}

func TestPrepOptionsValidate(t *testing.T) {
	for _, o := range []PrepOptions{{ValFraction: -0.1}, {TestFraction: 1}, {ValFraction: 0.5, TestFraction: 0.5}} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v: valid, want an error", o)
		}
	}
	if err := DefaultPrepOptions().Validate(); err != nil {
		t.Error(err)
	}
}

func TestSplitDeterministicDisjoint(t *testing.T) {
	in := strings.Join(records(t, 1000), "\n")
	prep := func(seed uint64) [3]Dataset {
		opt := DefaultPrepOptions()
		opt.Seed = seed
		tr, val, test, _, err := Prep(strings.NewReader(in), opt)
		if err != nil {
			t.Fatal(err)
		}
		return [3]Dataset{tr, val, test}
	}
	a, b, c := prep(1), prep(1), prep(2)
	for s := range a {
		if !equalData(a[s], b[s]) {
			t.Errorf("split %d differs between two runs with seed 1", s)
		}
	}
	if equalData(a[2], c[2]) {
		t.Error("seeds 1 and 2 gave the same test split")
	}
	seen := map[string]int{}
	for s, d := range a {
		for _, x := range d.X {
			k := fmtRow(x)
			if prev, ok := seen[k]; ok && prev != s {
				t.Fatalf("row %s in splits %d and %d", k, prev, s)
			}
			seen[k] = s
		}
	}
	if n := a[1].Len() + a[2].Len(); n < 220 || n > 380 {
		t.Errorf("val+test %d of 1000, want about 300", n)
	}
}
