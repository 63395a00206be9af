package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors callers branch on.
var (
	ErrHeader = errors.New("student records header")
	ErrNoRows = errors.New("no usable student records")
)

// maxReported bounds PrepReport.Errors so a wholly wrong file stays readable.
const maxReported = 20

// PrepOptions says how Prep treats bad rows and splits the good ones.
type PrepOptions struct {
	SkipBadRows  bool    // skip and count bad rows instead of failing the run
	Seed         uint64  // picks the split; equal seeds and rows give equal splits
	ValFraction  float64 // share of rows for validation
	TestFraction float64 // share of rows for test
}

// DefaultPrepOptions fails on bad rows and holds out 15% each for validation
// and test.
func DefaultPrepOptions() PrepOptions {
	return PrepOptions{Seed: 1, ValFraction: 0.15, TestFraction: 0.15}
}

// Validate names the fraction that is out of range.
func (o PrepOptions) Validate() error {
	switch {
	case !(o.ValFraction >= 0 && o.ValFraction < 1):
		return fmt.Errorf("ValFraction %v, expected 0 ≤ v < 1", o.ValFraction)
	case !(o.TestFraction >= 0 && o.TestFraction < 1):
		return fmt.Errorf("TestFraction %v, expected 0 ≤ v < 1", o.TestFraction)
	case o.ValFraction+o.TestFraction >= 1:
		return fmt.Errorf("ValFraction+TestFraction %v, expected below 1 to leave training rows", o.ValFraction+o.TestFraction)
	}
	return nil
}

// RowError is one bad value. Row counts data records from 1 (the header is
// row 0). Column is empty when the row as a whole is wrong, such as its
// number of fields.
type RowError struct {
	Row      int
	Column   string
	Value    string
	Expected string
}

func (e RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("row %d: %s, expected %s", e.Row, e.Value, e.Expected)
	}
	return fmt.Sprintf("row %d, column %q: %q, expected %s", e.Row, e.Column, e.Value, e.Expected)
}

// PrepReport counts what Prep read and kept.
type PrepReport struct {
	Rows          int        // data records read, bad ones included
	Skipped       int        // bad records left out (SkipBadRows only)
	Train         int        // rows in each split
	Val           int        //
	Test          int        //
	PositiveShare float64    // share of kept rows labelled success
	Errors        []RowError // the first 20 bad rows
}

// Prep reads UCI student records (semicolon-separated, header as published,
// columns in any order), checks each value against its column, derives
// Features and the success label, and splits the rows into train,
// validation and test. A bad row fails the run with a RowError unless
// opt.SkipBadRows; rep is filled as far as reading got, on error too.
func Prep(r io.Reader, opt PrepOptions) (train, val, test Dataset, rep PrepReport, err error) {
	if err = opt.Validate(); err != nil {
		return
	}
	all, keys, err := readRecords(r, opt.SkipBadRows, &rep)
	if err != nil {
		return
	}
	rep.PositiveShare = positiveShare(all.Y)
	train, val, test = split(all, keys, opt)
	rep.Train, rep.Val, rep.Test = train.Len(), val.Len(), test.Len()
	if train.Len() == 0 {
		err = fmt.Errorf("%w: %d rows leave an empty training split", ErrNoRows, all.Len())
	}
	return
}

// Records reads student records as Prep does, without splitting them: every
// good row's Features and label in file order, as a replay of the file
// sends them. A bad row fails the read unless skipBad.
func Records(r io.Reader, skipBad bool) (Dataset, PrepReport, error) {
	var rep PrepReport
	all, _, err := readRecords(r, skipBad, &rep)
	return all, rep, err
}

// readRecords checks the header and every row; keys are the rows' split keys.
func readRecords(r io.Reader, skip bool, rep *PrepReport) (all Dataset, keys []uint64, err error) {
	cr := csv.NewReader(r)
	cr.Comma = ';'
	cr.FieldsPerRecord = -1 // counted per row below, to name the row in a RowError
	head, err := cr.Read()
	if err != nil {
		return all, nil, fmt.Errorf("%w: %w", ErrHeader, err)
	}
	pos, err := mapHeader(head)
	if err != nil {
		return all, nil, err
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return all, nil, fmt.Errorf("row %d: %w", rep.Rows+1, err)
		}
		rep.Rows++
		vals, rerr := parseRow(rec, pos, rep.Rows)
		if rerr != nil {
			if !skip {
				return all, nil, fmt.Errorf("student records: %w", *rerr)
			}
			rep.Skipped++
			if len(rep.Errors) < maxReported {
				rep.Errors = append(rep.Errors, *rerr)
			}
			continue
		}
		x, y := derive(vals)
		all.X, all.Y = append(all.X, x), append(all.Y, y)
		keys = append(keys, rowKey(vals))
	}
	if all.Len() == 0 {
		return all, nil, fmt.Errorf("%w: %d rows read, %d bad", ErrNoRows, rep.Rows, rep.Skipped)
	}
	return all, keys, nil
}

// mapHeader gives, for each field of the file, its index in columns. Names
// are compared without surrounding space, so the published tab after
// "Daytime/evening attendance" and a byte order mark are both accepted.
func mapHeader(head []string) ([]int, error) {
	seen := make([]bool, len(columns))
	pos := make([]int, len(head))
	var unknown, missing []string
	for j, h := range head {
		name := strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		i := indexOf(name)
		switch {
		case i < 0:
			unknown = append(unknown, fmt.Sprintf("%q", name))
		case seen[i]:
			return nil, fmt.Errorf("%w: column %q appears twice", ErrHeader, name)
		default:
			seen[i], pos[j] = true, i
		}
	}
	for i, ok := range seen {
		if !ok {
			missing = append(missing, fmt.Sprintf("%q", columns[i].name))
		}
	}
	if len(unknown)+len(missing) > 0 {
		return nil, fmt.Errorf("%w: unknown columns [%s], missing columns [%s]; expected the %d columns of the UCI data",
			ErrHeader, strings.Join(unknown, ", "), strings.Join(missing, ", "), len(columns))
	}
	return pos, nil
}

// indexOf is name's index in columns, or -1.
func indexOf(name string) int {
	for i, c := range columns {
		if c.name == name {
			return i
		}
	}
	return -1
}

// parseRow checks one record, cleaned of surrounding space, and returns its
// values in columns order; the first bad value is reported.
func parseRow(rec []string, pos []int, row int) ([]float64, *RowError) {
	if len(rec) != len(pos) {
		return nil, &RowError{Row: row, Value: fmt.Sprintf("%d fields", len(rec)), Expected: fmt.Sprintf("%d fields", len(pos))}
	}
	vals := make([]float64, len(columns))
	for j, s := range rec {
		c := columns[pos[j]]
		s = strings.TrimSpace(s)
		v, ok := c.parse(s)
		if !ok {
			return nil, &RowError{Row: row, Column: c.name, Value: s, Expected: c.expected()}
		}
		vals[pos[j]] = v
	}
	return vals, nil
}

// positiveShare is the mean label.
func positiveShare(y []float64) float64 {
	n := 0.0
	for _, v := range y {
		n += v
	}
	return n / float64(len(y))
}
