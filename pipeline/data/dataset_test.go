package data

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func fmtRow(x []float64) string { return fmt.Sprint(x) }

func equalData(a, b Dataset) bool {
	return slices.Equal(a.Y, b.Y) && slices.EqualFunc(a.X, b.X, slices.Equal[[]float64])
}

func TestDatasetRoundTrip(t *testing.T) {
	d := Dataset{
		X: [][]float64{{1.0 / 3, 150.5, 0, 12.34, 1, 0.1 + 0.2, 1, 0}, {math.SmallestNonzeroFloat64, -2, 1e300, 0, 0.5, 20, 0, 1}},
		Y: []float64{1, 0},
	}
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	if err := d.Write(p1); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDataset(p1)
	if err != nil {
		t.Fatal(err)
	}
	if !equalData(got, d) {
		t.Fatalf("read %v, wrote %v", got, d)
	}
	if err := got.Write(p2); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if !bytes.Equal(b1, b2) || !strings.HasPrefix(string(b1), strings.Join(Features, ",")+",label\n") {
		t.Errorf("rewrite differs or header wrong:\n%s\n%s", b1, b2)
	}
}

func TestReadDatasetRejects(t *testing.T) {
	head := strings.Join(Features, ",") + ",label\n"
	tests := []struct{ name, body, want string }{
		{"header", "a,b\n", "header"},
		{"label", head + "1,2,3,4,5,6,7,8,2\n", "label 2, expected 0 or 1"},
		{"number", head + "1,x,3,4,5,6,7,8,1\n", `column "previous_grade": "x", expected a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "d.csv")
			if err := os.WriteFile(p, []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadDataset(p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestDerive(t *testing.T) {
	rec := make([]float64, len(columns))
	rec[iAdmission], rec[iPrevGrade], rec[iFees], rec[iScholarship] = 140, 130, 1, 0
	rec[iSem[0].enrolled], rec[iSem[0].approved], rec[iSem[0].grade] = 6, 3, 12.5
	rec[iSem[1].enrolled], rec[iSem[1].approved] = 0, 2 // credited units approved, none enrolled
	for class, wantY := range map[string]float64{"Dropout": 0, "Enrolled": 1, "Graduate": 1} {
		rec[iTarget] = float64(slices.Index(Classes, class))
		x, y := derive(rec)
		if want := []float64{140, 130, 0.5, 12.5, 0, 0, 1, 0}; !slices.Equal(x, want) || y != wantY {
			t.Errorf("%s: derive = %v, %v; want %v, %v", class, x, y, want, wantY)
		}
	}
}

// Every column the features read is one of the UCI columns.
func TestFeatureColumnsExist(t *testing.T) {
	for _, i := range []int{iAdmission, iPrevGrade, iFees, iScholarship, iTarget,
		iSem[0].enrolled, iSem[0].approved, iSem[0].grade, iSem[1].enrolled, iSem[1].approved, iSem[1].grade} {
		if i < 0 || i >= len(columns) {
			t.Fatalf("a feature reads column %d, not one of the %d columns", i, len(columns))
		}
	}
}
