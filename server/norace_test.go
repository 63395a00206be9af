//go:build !race

package server

// raceSlack is 0 without the race detector: the budget holds exactly.
const raceSlack = 0
