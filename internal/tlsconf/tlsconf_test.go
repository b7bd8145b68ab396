package tlsconf

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/certs"
)

// pki makes a CA in a temporary directory with a node certificate for
// 127.0.0.1 and returns the directory.
func pki(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := certs.InitCA(dir, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := certs.Node(dir, "n1", []string{"127.0.0.1", "localhost"}, time.Time{}, time.Hour); err != nil {
		t.Fatal(err)
	}
	return dir
}

func nodeSource(t *testing.T, dir, name string) *Source {
	t.Helper()
	cert, key := certs.NodeFiles(dir, name)
	s, err := Load(Files{Cert: cert, Key: key, CA: filepath.Join(dir, certs.CACert)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serve accepts TLS connections with cfg and completes each handshake,
// sending the outcome on the returned channel.
func serve(t *testing.T, cfg *tls.Config) (string, <-chan error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan error, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			err = c.(*tls.Conn).Handshake()
			if err == nil {
				// TLS 1.3 clients learn of a refused certificate on their
				// first read: give them something to read.
				_, err = c.Write([]byte("ok"))
			}
			out <- err
			c.Close()
		}
	}()
	return ln.Addr().String(), out
}

// dial handshakes as a client and reads the server's first bytes.
func dial(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2)
	_, err = c.Read(buf)
	return err
}

func TestMutualTLSAcceptsTheCAsCertificatesOnly(t *testing.T) {
	dir := pki(t)
	srv := nodeSource(t, dir, "n1")
	cfg, err := srv.ServerConfig(true)
	if err != nil {
		t.Fatal(err)
	}
	addr, outcomes := serve(t, cfg)

	// A client certificate from the same CA: accepted.
	if _, _, err := certs.Client(dir, "alice", time.Time{}, time.Hour); err != nil {
		t.Fatal(err)
	}
	cc, ck := certs.ClientFiles(dir, "alice")
	alice, err := Load(Files{Cert: cc, Key: ck, CA: filepath.Join(dir, certs.CACert)})
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(addr, alice.ClientConfig("127.0.0.1")); err != nil {
		t.Fatalf("a client certificate the CA signed was refused: %v", err)
	}
	if err := <-outcomes; err != nil {
		t.Fatalf("server side of an accepted handshake: %v", err)
	}

	// No client certificate: refused.
	anon, err := Load(Files{CA: filepath.Join(dir, certs.CACert)})
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(addr, anon.ClientConfig("127.0.0.1")); err == nil {
		t.Fatal("a client without a certificate was let in")
	}
	if err := <-outcomes; err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("server side of a certificate-less client: %v, want a certificate error", err)
	}

	// A certificate from another CA, which trusts ours: refused by us.
	other := pki(t)
	oc, ok := certs.NodeFiles(other, "n1")
	stranger, err := Load(Files{Cert: oc, Key: ok, CA: filepath.Join(dir, certs.CACert)})
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(addr, stranger.ClientConfig("127.0.0.1")); err == nil {
		t.Fatal("a certificate another CA signed was let in")
	}
	if err := <-outcomes; err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("server side of a stranger's handshake: %v, want unknown authority", err)
	}

	// An expired client certificate: refused.
	if _, _, err := certs.Client(dir, "old", time.Now().Add(-48*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	oc, ok = certs.ClientFiles(dir, "old")
	expired, err := Load(Files{Cert: oc, Key: ok, CA: filepath.Join(dir, certs.CACert)})
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(addr, expired.ClientConfig("127.0.0.1")); err == nil {
		t.Fatal("an expired client certificate was let in")
	}
	if err := <-outcomes; err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("server side of an expired certificate: %v, want expired", err)
	}

	// The client refuses a server whose name its certificate lacks.
	if err := dial(addr, alice.ClientConfig("10.9.9.9")); err == nil || !strings.Contains(err.Error(), "10.9.9.9") {
		t.Fatalf("a server certificate without the dialed IP: %v, want a name mismatch", err)
	}
	<-outcomes
}

// A certificate rotated on disk is served to new connections without a
// restart; a broken file during the rotation keeps the old one.
func TestReloadServesTheNewCertificate(t *testing.T) {
	dir := pki(t)
	srv := nodeSource(t, dir, "n1")
	first := srv.Certificate().Leaf.SerialNumber
	cert, _ := certs.NodeFiles(dir, "n1")
	if err := os.WriteFile(cert, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err == nil {
		t.Fatal("reloading a broken certificate file succeeded")
	}
	if srv.Certificate().Leaf.SerialNumber.Cmp(first) != 0 {
		t.Fatal("a failed reload replaced the certificate")
	}
	if _, _, err := certs.Node(dir, "n1", []string{"127.0.0.1"}, time.Time{}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if !srv.changed() {
		t.Fatal("the rewritten files are not seen as changed")
	}
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	second := srv.Certificate().Leaf.SerialNumber
	if second.Cmp(first) == 0 {
		t.Fatal("the reload kept the old certificate")
	}
	cfg, err := srv.ServerConfig(false)
	if err != nil {
		t.Fatal(err)
	}
	addr, outcomes := serve(t, cfg)
	client, err := Load(Files{CA: filepath.Join(dir, certs.CACert)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", addr, client.HTTPClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(second) != 0 {
		t.Fatalf("served certificate %v, want the reloaded %v", got, second)
	}
	<-outcomes
}

func TestLoadNeedsCertAndKeyTogether(t *testing.T) {
	if _, err := Load(Files{Cert: "x.crt"}); err == nil {
		t.Fatal("a certificate without its key was accepted")
	}
	s, err := Load(Files{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ServerConfig(false); err == nil {
		t.Fatal("a listener configuration without a certificate was built")
	}
}
