package data

// Features are the model's inputs, in input order, each derived from one
// UCI record by derive:
//
//	admission_grade           Admission grade, 0–200 as recorded
//	previous_grade            Previous qualification (grade), 0–200
//	sem1_approved_ratio       1st sem approved / enrolled units, 0 when none enrolled, at most 1
//	sem1_grade                1st sem grade average, 0–20 (0 when nothing approved)
//	sem2_approved_ratio       as sem1, for the 2nd semester
//	sem2_grade                as sem1, for the 2nd semester
//	tuition_up_to_date        Tuition fees up to date, 0 or 1
//	scholarship_holder        Scholarship holder, 0 or 1
//
// Ratios rather than unit counts, because courses enrol different numbers
// of units and the share passed is what carries over between them.
var Features = []string{
	"admission_grade",
	"previous_grade",
	"sem1_approved_ratio",
	"sem1_grade",
	"sem2_approved_ratio",
	"sem2_grade",
	"tuition_up_to_date",
	"scholarship_holder",
}

// Column positions derive reads, resolved once.
var (
	iAdmission   = indexOf(colAdmission)
	iPrevGrade   = indexOf(colPrevGrade)
	iFees        = indexOf(colFees)
	iScholarship = indexOf(colScholarship)
	iTarget      = indexOf(colTarget)
	iSem         = [2]struct{ enrolled, approved, grade int }{
		{indexOf(semCol("1st", "enrolled")), indexOf(semCol("1st", "approved")), indexOf(semCol("1st", "grade"))},
		{indexOf(semCol("2nd", "enrolled")), indexOf(semCol("2nd", "approved")), indexOf(semCol("2nd", "grade"))},
	}
)

// derive maps one checked record, in columns order, to Features and label.
// The label is 1 for success (Graduate or Enrolled) and 0 for Dropout.
func derive(rec []float64) (x []float64, y float64) {
	x = []float64{rec[iAdmission], rec[iPrevGrade], 0, 0, 0, 0, rec[iFees], rec[iScholarship]}
	for s, c := range iSem {
		x[2+2*s] = ratio(rec[c.approved], rec[c.enrolled])
		x[3+2*s] = rec[c.grade]
	}
	if Classes[int(rec[iTarget])] != "Dropout" {
		y = 1
	}
	return x, y
}

// ratio is approved/enrolled, capped at 1 because credited units can be
// approved without being enrolled that semester.
func ratio(approved, enrolled float64) float64 {
	if enrolled == 0 {
		return 0
	}
	return min(approved/enrolled, 1)
}
