package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// supervisor runs the server and restarts it on the same address, as a
// process supervisor (systemd, a kubelet) would, keeping the windows in
// which it was intentionally down.
type supervisor struct {
	cfg  Config
	repo string
	logs string // folder of the server logs, serve-N.log per incarnation

	mu      sync.Mutex // guards the fields below
	addr    string
	cmd     *exec.Cmd
	exited  chan error // the running incarnation's exit
	n       int        // incarnations started
	windows []window   // intentional down times
}

// window is an intentional down time: from the stop signal to the new
// incarnation's first ready answer.
type window struct{ from, to time.Time }

const (
	startTimeout = 2 * time.Minute
	stopTimeout  = 60 * time.Second // drain (10 s per step) with room
)

func (s *supervisor) url() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr
}

// start runs a new incarnation and waits until it answers ready.
func (s *supervisor) start(ctx context.Context) error {
	s.mu.Lock()
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0" // the first chooses; the others reuse it
	}
	s.n++
	logPath := filepath.Join(s.logs, "serve-"+strconv.Itoa(s.n)+".log")
	s.mu.Unlock()
	args := append(append([]string{}, s.cfg.Serve[1:]...), "-server.addr", addr, "-server.grpc_addr", "127.0.0.1:0", "-repository.path", s.repo,
		"-repository.poll_interval", "1s", "-server.access_log", "true", "-log.format", "json", "-log.level", "info")
	cmd := exec.Command(s.cfg.Serve[0], args...)
	cmd.Env = append(os.Environ(), s.cfg.Env...)
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("soak: starting the server: %w", err)
	}
	served := make(chan string, 1)
	copied := make(chan struct{})
	go func() { // ends when the process closes its stderr
		defer close(copied)
		defer logFile.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		sent := false
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = logFile.Write(append(line, '\n'))
			if sent {
				continue
			}
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "serving KServe v2" && rec.Addr != "" {
				served <- rec.Addr
				sent = true
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-copied // Wait closes the pipe: read it to the end first
		exited <- cmd.Wait()
	}()
	select {
	case a := <-served:
		addr = a
	case err := <-exited:
		return fmt.Errorf("soak: the server exited before serving (%v); see %s", err, logPath)
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("soak: the server did not say where it serves within %v; see %s", startTimeout, logPath)
	}
	s.mu.Lock()
	s.addr, s.cmd, s.exited = addr, cmd, exited
	s.mu.Unlock()
	return s.waitReady(ctx)
}

// waitReady polls readiness until 200.
func (s *supervisor) waitReady(ctx context.Context) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if resp, err := hc.Get(s.url() + "/v2/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("soak: the server was not ready within %v", startTimeout)
}

// restart stops the running incarnation with SIGTERM, as an orchestrator
// does, and starts the next; the time between is an intentional down time.
func (s *supervisor) restart(ctx context.Context) error {
	from := time.Now()
	if err := s.stop(); err != nil {
		return err
	}
	err := s.start(ctx)
	s.mu.Lock()
	s.windows = append(s.windows, window{from, time.Now()})
	s.mu.Unlock()
	return err
}

// stop signals the running incarnation and waits for it to exit.
func (s *supervisor) stop() error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("soak: the server exited with %v after SIGTERM", err)
		}
		return nil
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
		return errors.New("soak: the server did not exit within a minute of SIGTERM")
	}
}

// down reports whether t falls in an intentional down time, with slack for
// the clocks of a call's start and end.
func (s *supervisor) down(t time.Time) bool {
	const slack = 100 * time.Millisecond
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.windows {
		if !t.Before(w.from.Add(-slack)) && !t.After(w.to.Add(slack)) {
			return true
		}
	}
	return false
}

// incarnations is how many servers ran.
func (s *supervisor) incarnations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
