package data

import (
	"fmt"
	"strconv"
	"strings"
)

// kind is how a column's values are checked.
type kind int

const (
	integer kind = iota // a whole number in [min, max]; category codes are checked by range only
	real                // any finite number in [min, max]
	zeroOne             // 0 or 1
	target              // one of Classes
)

// column is one column of the UCI layout and the values it accepts.
type column struct {
	name     string
	kind     kind
	min, max float64
}

// Classes are the Target values of the UCI data. Success (label 1) is
// Graduate or Enrolled: the student has not left.
var Classes = []string{"Dropout", "Enrolled", "Graduate"}

// Column names used to derive features; they appear once more in columns.
const (
	colAdmission   = "Admission grade"
	colPrevGrade   = "Previous qualification (grade)"
	colFees        = "Tuition fees up to date"
	colScholarship = "Scholarship holder"
	colTarget      = "Target"
)

// semCols names the six per-semester columns of semester s ("1st" or "2nd").
func semCol(s, what string) string {
	return "Curricular units " + s + " sem (" + what + ")"
}

// columns is the UCI "Predict Students' Dropout and Academic Success" layout
// (Realinho et al. 2021, data.csv), in published order. Ranges are those of
// the data descriptor, widened slightly where codes could grow: category
// codes are checked as integers in range rather than against the code list,
// so a new code the institution adds does not fail a run.
var columns = []column{
	{"Marital status", integer, 1, 6},
	{"Application mode", integer, 1, 99},
	{"Application order", integer, 0, 9},
	{"Course", integer, 1, 9999},
	{"Daytime/evening attendance", zeroOne, 0, 1},
	{"Previous qualification", integer, 1, 99},
	{colPrevGrade, real, 0, 200},
	{"Nacionality", integer, 1, 199},
	{"Mother's qualification", integer, 1, 99},
	{"Father's qualification", integer, 1, 99},
	{"Mother's occupation", integer, 0, 999},
	{"Father's occupation", integer, 0, 999},
	{colAdmission, real, 0, 200},
	{"Displaced", zeroOne, 0, 1},
	{"Educational special needs", zeroOne, 0, 1},
	{"Debtor", zeroOne, 0, 1},
	{colFees, zeroOne, 0, 1},
	{"Gender", zeroOne, 0, 1},
	{colScholarship, zeroOne, 0, 1},
	{"Age at enrollment", integer, 15, 100},
	{"International", zeroOne, 0, 1},
	{semCol("1st", "credited"), integer, 0, 100},
	{semCol("1st", "enrolled"), integer, 0, 100},
	{semCol("1st", "evaluations"), integer, 0, 100},
	{semCol("1st", "approved"), integer, 0, 100},
	{semCol("1st", "grade"), real, 0, 20},
	{semCol("1st", "without evaluations"), integer, 0, 100},
	{semCol("2nd", "credited"), integer, 0, 100},
	{semCol("2nd", "enrolled"), integer, 0, 100},
	{semCol("2nd", "evaluations"), integer, 0, 100},
	{semCol("2nd", "approved"), integer, 0, 100},
	{semCol("2nd", "grade"), real, 0, 20},
	{semCol("2nd", "without evaluations"), integer, 0, 100},
	{"Unemployment rate", real, 0, 100},
	{"Inflation rate", real, -50, 100},
	{"GDP", real, -50, 50},
	{colTarget, target, 0, 2},
}

// publishedName is the header as data.csv spells it: one name carries a
// trailing tab there, and Generate reproduces it.
func publishedName(name string) string {
	if name == "Daytime/evening attendance" {
		return name + "\t"
	}
	return name
}

// expected says in words what the column accepts.
func (c column) expected() string {
	switch c.kind {
	case integer:
		return fmt.Sprintf("an integer %g–%g", c.min, c.max)
	case real:
		return fmt.Sprintf("a number %g–%g", c.min, c.max)
	case zeroOne:
		return "0 or 1"
	default:
		return "one of " + strings.Join(Classes, ", ")
	}
}

// parse checks one value; ok is false when it is not what expected says.
func (c column) parse(s string) (v float64, ok bool) {
	switch c.kind {
	case target:
		for i, cl := range Classes {
			if s == cl {
				return float64(i), true
			}
		}
		return 0, false
	case integer, zeroOne:
		n, err := strconv.Atoi(s)
		v, ok = float64(n), err == nil
	default:
		f, err := strconv.ParseFloat(s, 64)
		v, ok = f, err == nil && f == f // f == f rejects NaN
	}
	return v, ok && v >= c.min && v <= c.max
}
