// Package etcdtest runs a real etcd cluster inside the test process, so the
// coordination code is tested against etcd itself rather than a fake: the
// same raft, leases, watches and failure modes a deployment sees.
//
// Start brings up n members and returns once the cluster answers; Stop,
// StopAll, Restart and RestartAll take members down and back with their
// data, so a test can lose a member, lose quorum, lose etcd altogether and
// recover.
//
// Invariants:
//   - Members listen on the loopback only: clients on unix sockets in a
//     private temporary folder, peers on 127.0.0.1 ports the OS chose (see
//     ports.go for why peers cannot use sockets).
//   - Every wait is bounded by waitTimeout and fails the test with what it
//     was waiting for; nothing blocks a test forever.
//   - The cluster writes nothing to stdout or stderr: etcd's logs (warnings
//     and worse) are kept in memory and shown through the test's log only
//     when the test fails.
//   - Everything Start and Client create is stopped at the test's cleanup,
//     clients before members, members before their folders are removed.
//   - Start, Stop, StopAll, Restart, RestartAll and Client fail the test on
//     error, so call them from the test's own goroutine; Endpoints and
//     AllEndpoints may be called from any goroutine.
package etcdtest
