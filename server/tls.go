package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certReloader serves the certificate in server.tls_cert_file and
// server.tls_key_file, read again when either file's size or modification
// time changes, so a renewed certificate needs no restart. Each handshake
// costs two stats.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu    sync.Mutex // guards cert and stamp
	cert  *tls.Certificate
	stamp fileStamp // of the files cert was read from
}

// fileStamp tells whether the pair of files changed since it was taken.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// newCertReloader reads the pair once, so a bad pair stops the start.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	st, err := r.stat()
	if err != nil {
		return nil, err
	}
	if err := r.load(st); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) stat() (fileStamp, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("server.tls_cert_file: %w", err)
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("server.tls_key_file: %w", err)
	}
	return fileStamp{c.ModTime(), k.ModTime(), c.Size(), k.Size()}, nil
}

// load reads the pair; the caller holds mu or is the constructor.
func (r *certReloader) load(st fileStamp) error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("server.tls_cert_file %s with server.tls_key_file %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.stamp = &cert, st
	return nil
}

// getCertificate is tls.Config.GetCertificate. A pair caught half-written
// (a new certificate beside the old key) keeps the last good certificate;
// the next handshake tries again.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.stat()
	if err == nil && st != r.stamp {
		err = r.load(st)
	}
	if err != nil {
		r.log.Warn("tls: serving the last good certificate", "err", err)
	}
	return r.cert, nil
}

func (r *certReloader) config() *tls.Config {
	return &tls.Config{GetCertificate: r.getCertificate, MinVersion: tls.VersionTLS12}
}
