// Package data turns student records in the layout of the UCI "Predict
// Students' Dropout and Academic Success" data (Realinho et al. 2021) into
// the student-success model's training data, and generates synthetic
// records in that layout, shifted on request to stand for data a model
// has not seen.
//
// The label is 1 for success, Graduate or Enrolled (the student has not
// left), and 0 for Dropout. Features lists the eight inputs and how each is
// derived. Invariants: the column list lives in columns.go only; Prep
// checks every value before deriving anything; a row's split depends only
// on its content and the seed; Write and ReadDataset round-trip exactly.
package data
