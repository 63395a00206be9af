// Package autoscale turns load signals into a replica recommendation with
// the semantics of Knative's pod autoscaler (KPA): a target concurrency per
// replica, a stable window and a shorter panic window, panic mode when the
// panic window's load reaches a multiple of the target (never scaling down
// while in it), bounded scale-up and scale-down rates, minimum and maximum
// replicas, and scale to zero after an idle grace period.
//
// Decide is pure: it takes the time, the signals and the previous state and
// returns a decision and the next state; Window averages samples over time
// given as a parameter. Nothing here reads a clock or starts a goroutine.
package autoscale
