package data

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// genStream is the PCG stream of Generate, apart from any other user of the seed.
const genStream = 0x5714de47

// Generate writes n synthetic student records in the UCI layout: all 37
// columns in published order, semicolon-separated, under the published
// header. Equal seeds give equal bytes. The records follow a known model,
// so a trained classifier's quality can be checked against it:
//
//	a ~ N(0,1)                         latent ability
//	age = 18 + ⌊1.5|ε|⌋, or with p 0.2 a mature entrant 23 + ⌊8·Exp(1)⌋ (≤ 70)
//	previous grade  = 132 + 12(0.6a + 0.8ε), admission = 127 + 14(0.6a + 0.8ε), in [95, 190]
//	debtor      ~ Bern(σ(−2.3 − 0.5a))
//	fees paid   ~ Bern(0.55 if debtor else 0.94)
//	scholarship ~ Bern(σ(−1.2 + 0.7a))
//	success     ~ Bern(σ(z)), z = 1.3 + 1.6a − 2(1 − fees) − 0.6·debtor − 0.04(age − 19) + 0.5·scholarship
//	Target      = Dropout if not success, else Graduate (p 0.7) or Enrolled
//	per semester s: e = a + 0.5ε; enrolled units 5–8 (0 with p 0.03);
//	  approved ~ Binomial(enrolled, σ(0.8 + 1.3e − 2·dropout·[s = 2]))
//	  (students who leave stop passing in the 2nd semester);
//	  grade = 11 + 1.2e + 0.8ε in [10, 18.9] when any unit is approved, else 0
//
// All other columns are drawn from plausible codes independently of the
// outcome. σ is the logistic function, ε a fresh N(0,1) draw each time.
func Generate(w io.Writer, n int, seed uint64) error {
	return GenerateShifted(w, n, seed, Shift{})
}

// Shift moves the population Generate draws from, to make data a served
// model has not seen (drift):
//
//	a ~ N(Ability, 1)                       lower: lower grades, admission and previous grades
//	approved ~ Binomial(enrolled, σ(… + Pass))  lower: fewer units passed (the attendance proxy)
//
// The zero Shift is Generate's population.
type Shift struct {
	Ability float64 // added to the latent ability's mean, in its standard deviations
	Pass    float64 // added to the logit of passing each enrolled unit
}

// GenerateShifted is Generate from the population shift describes. It
// draws exactly as Generate does, only moving values, so Shift{} gives
// Generate's bytes and one seed gives the same students, shifted.
func GenerateShifted(w io.Writer, n int, seed uint64, shift Shift) error {
	if n < 0 {
		return fmt.Errorf("generate %d records, expected n ≥ 0", n)
	}
	if math.IsNaN(shift.Ability) || math.IsInf(shift.Ability, 0) || math.IsNaN(shift.Pass) || math.IsInf(shift.Pass, 0) {
		return fmt.Errorf("generate with shift %+v, expected finite shifts", shift)
	}
	rng := rand.New(rand.NewPCG(seed, genStream))
	bw := bufio.NewWriter(w)
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = publishedName(c.name)
	}
	bw.WriteString(strings.Join(names, ";") + "\n")
	for range n {
		bw.WriteString(strings.Join(drawStudent(rng, shift).row(), ";") + "\n")
	}
	return bw.Flush()
}

// record is one generated row, written by column name; row lays it out in
// the columns' order (a column the generator missed stays empty, and the
// generator's tests, which prep every generated file, refuse it).
type record map[string]string

func (r record) row() []string {
	out := make([]string, len(columns))
	for i, c := range columns {
		out[i] = r[c.name]
	}
	return out
}

func (r record) set(name string, v string) { r[name] = v }
func (r record) int(name string, v int)    { r.set(name, strconv.Itoa(v)) }
func (r record) bool(name string, v bool)  { r.set(name, b2s(v)) }

// real writes v rounded to places decimals.
func (r record) real(name string, v float64, places int) {
	p := math.Pow(10, float64(places))
	r.set(name, strconv.FormatFloat(math.Round(v*p)/p, 'f', -1, 64))
}

func b2s(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// drawStudent draws one record by the model in Generate's comment, moved
// by shift.
func drawStudent(rng *rand.Rand, shift Shift) record {
	r := make(record, len(columns))
	a := rng.NormFloat64() + shift.Ability
	age := drawAge(rng)
	debtor := bern(rng, sigmoid(-2.3-0.5*a))
	fees := bern(rng, map2(debtor, 0.55, 0.94))
	scholar := bern(rng, sigmoid(-1.2+0.7*a))
	z := 1.3 + 1.6*a - 2*(1-f(fees)) - 0.6*f(debtor) - 0.04*float64(age-19) + 0.5*f(scholar)
	success := bern(rng, sigmoid(z))
	r.int("Age at enrollment", age)
	r.bool("Debtor", debtor)
	r.bool(colFees, fees)
	r.bool(colScholarship, scholar)
	r.real(colPrevGrade, clamp(132+12*(0.6*a+0.8*rng.NormFloat64()), 95, 190), 1)
	r.real(colAdmission, clamp(127+14*(0.6*a+0.8*rng.NormFloat64()), 95, 190), 1)
	r.set(colTarget, drawTarget(rng, success))
	drawSemester(rng, r, "1st", a, -shift.Pass, age)
	drawSemester(rng, r, "2nd", a, map2(success, 0, 2)-shift.Pass, age)
	drawBackground(rng, r, age)
	return r
}

// drawAge is mostly school leavers with a tail of mature entrants.
func drawAge(rng *rand.Rand) int {
	if bern(rng, 0.2) {
		return min(23+int(8*rng.ExpFloat64()), 70)
	}
	return 18 + int(1.5*math.Abs(rng.NormFloat64()))
}

func drawTarget(rng *rand.Rand, success bool) string {
	switch {
	case !success:
		return "Dropout"
	case bern(rng, 0.7):
		return "Graduate"
	}
	return "Enrolled"
}

// drawSemester fills semester s's six columns; penalty lowers the pass rate.
func drawSemester(rng *rand.Rand, r record, s string, a, penalty float64, age int) {
	e := a + 0.5*rng.NormFloat64()
	enrolled := 5 + rng.IntN(4)
	if bern(rng, 0.03) {
		enrolled = 0
	}
	approved := 0
	for range enrolled {
		if bern(rng, sigmoid(0.8+1.3*e-penalty)) {
			approved++
		}
	}
	without := 0
	if enrolled > approved && bern(rng, 0.1) {
		without = 1 + rng.IntN(enrolled-approved)
	}
	credited := 0
	if age > 23 && bern(rng, 0.3) {
		credited = 1 + rng.IntN(10)
	}
	grade := 0.0
	if approved > 0 {
		grade = clamp(11+1.2*e+0.8*rng.NormFloat64(), 10, 18.9)
	}
	r.int(semCol(s, "credited"), credited)
	r.int(semCol(s, "enrolled"), enrolled)
	r.int(semCol(s, "evaluations"), enrolled-without+rng.IntN(4)*min(enrolled, 1))
	r.int(semCol(s, "approved"), approved)
	r.real(semCol(s, "grade"), grade, 2)
	r.int(semCol(s, "without evaluations"), without)
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
func bern(rng *rand.Rand, p float64) bool {
	return rng.Float64() < p
}
func f(b bool) float64 { return map2(b, 1, 0) }

// map2 is yes when b, else no.
func map2(b bool, yes, no float64) float64 {
	if b {
		return yes
	}
	return no
}

func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }
