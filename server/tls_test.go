package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-serving/sluice/server"
)

// writeCert writes a fresh self-signed certificate for 127.0.0.1 with the
// given serial, and returns it parsed.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "sluice test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// servedSerial connects over TLS, trusting only want, and returns the
// serial of the certificate the server showed.
func servedSerial(t *testing.T, addr string, want *x509.Certificate) int64 {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(want)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS handshake trusting serial %d: %v", want.SerialNumber, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

func TestTLSServesAndReloadsTheCertificate(t *testing.T) {
	dir := t.TempDir()
	cfg := server.DefaultConfig()
	cfg.TLSCertFile, cfg.TLSKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := writeCert(t, cfg.TLSCertFile, cfg.TLSKeyFile, 1)
	s := startFake(t, cfg, "https", &syncBuffer{})
	addr := strings.TrimPrefix(s.url, "https://")
	if got := servedSerial(t, addr, first); got != 1 {
		t.Fatalf("served serial %d, want 1", got)
	}
	second := writeCert(t, cfg.TLSCertFile, cfg.TLSKeyFile, 2)
	// Set the times ahead so the change shows even where the file system
	// keeps coarse modification times.
	later := time.Now().Add(time.Minute)
	for _, f := range []string{cfg.TLSCertFile, cfg.TLSKeyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if got := servedSerial(t, addr, second); got != 2 {
		t.Errorf("after replacing the files, served serial %d, want 2", got)
	}
}

func TestTLSBadPairStopsServe(t *testing.T) {
	dir := t.TempDir()
	cfg := server.DefaultConfig()
	cfg.TLSCertFile, cfg.TLSKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "missing.pem")
	writeCert(t, cfg.TLSCertFile, filepath.Join(dir, "key.pem"), 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = server.New(cfg, fakeModels{}, nil, prometheus.NewRegistry(), slog.New(slog.DiscardHandler)).Serve(t.Context(), ln, time.Second)
	if err == nil || !strings.Contains(err.Error(), "server.tls_key_file") {
		t.Errorf("Serve = %v, want an error naming server.tls_key_file", err)
	}
}
