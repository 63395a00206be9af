// Package bench is Sluice's load harness: a black box over the protocol
// (HTTP, or gRPC's GRPCInferenceService, through the client package's
// transports; a Result records which) that sends v2 inference calls in an
// open loop (a fixed rate, constant or Poisson arrivals, latency measured
// from each call's intended send time so a stalled server cannot hide its
// stall: no coordinated omission) or a closed loop (a fixed concurrency),
// in steps, ramps and sweeps, and searches for the highest rate whose p99
// meets an SLO. Latencies go into HDR histograms per measurement window; a
// run ends when three windows in a row agree within 10 % or at a cap.
// Reports are a terminal table, JSON, CSV and a self-contained HTML page
// with SVG plots.
//
// The package is flag-free: cmd/sluice reads flags into a Config.
package bench
