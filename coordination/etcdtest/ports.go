package etcdtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Peers talk over TCP on 127.0.0.1 although etcd accepts unix peer URLs:
// etcd dials a peer at its URL's host alone (rafthttp asks for
// http://host/raft/..., and the unix transport dials that host as a path),
// so a unix peer socket must be a file named like "localhost:1234" in the
// process's working folder, which under `go test` is the package's source
// folder. etcd's own integration tests chdir into a temporary folder for
// this; a helper cannot, since the working folder is process-wide and
// t.Chdir forbids t.Parallel. Clients have no such limit (clientv3 dials
// unix:///absolute/path), so they get sockets: no port, nothing to race for.

// maxSocketPath keeps socket paths under the smallest sun_path in use
// (104 bytes on the BSDs and macOS, 108 on Linux), counting the NUL.
const maxSocketPath = 100

// reservePorts returns n distinct free ports on 127.0.0.1 chosen by the OS.
// It holds every listener until all are chosen, so none is handed out
// twice, and closes them on return: between that close and etcd's bind
// another process can take a port, which callers handle with isAddrInUse.
func reservePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve a loopback port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// isAddrInUse reports whether err is a bind that lost the race for a port.
func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE)
}

// peerURL is the URL member peers listen on and dial for a reserved port.
func peerURL(port int) url.URL {
	return url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
}

// clientURL is the unix socket URL of the client listener at path, in the
// absolute form clientv3 understands ("unix:///abs/path").
func clientURL(path string) url.URL {
	return url.URL{Scheme: "unix", Path: path}
}

// newSocketDir makes a private folder for client sockets. It is not under
// tb.TempDir because that path carries the test's name and can pass the
// socket path limit.
func newSocketDir(members int) (string, error) {
	dir, err := os.MkdirTemp("", "etcdtest")
	if err != nil {
		return "", fmt.Errorf("make socket folder: %w", err)
	}
	longest := filepath.Join(dir, socketName(members-1))
	if len(longest) > maxSocketPath {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("socket path %q is over %d bytes; set TMPDIR to a shorter folder", longest, maxSocketPath)
	}
	return dir, nil
}

// socketName is member i's client socket file name.
func socketName(i int) string {
	return "m" + strconv.Itoa(i) + ".sock"
}
