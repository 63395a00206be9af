package data

import (
	"math/rand/v2"
)

// Codes seen in the published data, for the columns Generate draws
// independently of the outcome. The first code of each list is the common
// one.
var (
	maritalCodes  = []int{1, 2, 4, 5, 6, 3}
	modeCodes     = []int{1, 17, 18, 43, 44, 7, 42, 51, 53, 15, 5, 10, 16, 2, 26, 27, 57}
	courseCodes   = []int{9500, 9238, 9085, 9773, 9670, 9991, 9254, 9147, 9003, 9119, 9130, 9070, 171, 8014, 9556, 9853, 33}
	prevQualCodes = []int{1, 39, 19, 3, 12, 40, 42, 2, 6, 9, 4, 38, 43, 10, 15, 14, 5}
	nationCodes   = []int{1, 41, 26, 22, 6, 24, 100, 11, 103, 21, 101, 62, 2, 25, 32, 13, 14, 17, 105, 108, 109}
	parentQual    = []int{1, 37, 19, 38, 3, 34, 2, 4, 12, 39, 5, 40, 9, 43, 42, 6, 11, 29, 41, 10, 14, 30, 35, 36, 44}
	occupations   = []int{9, 4, 5, 7, 3, 0, 10, 8, 6, 2, 1, 90, 99, 122, 123, 125, 131, 132, 134, 141, 143, 144, 151, 152, 153, 171, 191, 192, 193, 194, 195}
	// macro holds the yearly (unemployment, inflation, GDP) triples of the
	// published data; each student gets the one of an entry year.
	macro = [][3]float64{
		{10.8, 1.4, 1.74}, {13.9, -0.3, 0.79}, {9.4, -0.8, -3.12}, {16.2, 0.3, -0.92}, {15.5, 2.8, -4.06},
		{8.9, 1.4, 3.51}, {12.7, 3.7, -1.7}, {11.1, 0.6, 2.02}, {7.6, 2.6, 0.32}, {12.4, 0.5, 1.79},
	}
)

// drawBackground fills the columns with no part in the outcome.
func drawBackground(rng *rand.Rand, r record, age int) {
	mode := common(rng, 0.45, modeCodes)
	if age > 23 && bern(rng, 0.7) {
		mode = 39 // the over-23 entry route
	}
	nation := common(rng, 0.97, nationCodes)
	r.int("Marital status", common(rng, map2(age > 23, 0.6, 0.95), maritalCodes))
	r.int("Application mode", mode)
	r.int("Application order", min(1+int(rng.ExpFloat64()*1.2), 9))
	r.int("Course", courseCodes[rng.IntN(len(courseCodes))])
	r.bool("Daytime/evening attendance", bern(rng, 0.89))
	r.int("Previous qualification", common(rng, 0.84, prevQualCodes))
	r.int("Nacionality", nation)
	r.int("Mother's qualification", common(rng, 0.25, parentQual))
	r.int("Father's qualification", common(rng, 0.25, parentQual))
	r.int("Mother's occupation", common(rng, 0.35, occupations))
	r.int("Father's occupation", common(rng, 0.25, occupations))
	r.bool("Displaced", bern(rng, 0.55))
	r.bool("Educational special needs", bern(rng, 0.01))
	r.bool("Gender", bern(rng, 0.35))
	r.bool("International", nation != 1)
	m := macro[rng.IntN(len(macro))]
	r.real("Unemployment rate", m[0], 1)
	r.real("Inflation rate", m[1], 1)
	r.real("GDP", m[2], 2)
}

// common is codes[0] with probability p, else any other code.
func common(rng *rand.Rand, p float64, codes []int) int {
	if bern(rng, p) {
		return codes[0]
	}
	return codes[1+rng.IntN(len(codes)-1)]
}
