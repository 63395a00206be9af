//go:build race

package server

// raceSlack is how many more allocations a call may make under the race
// detector, which drops a share of sync.Pool items on purpose.
const raceSlack = 6
