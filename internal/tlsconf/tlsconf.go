// Package tlsconf loads a certificate, its key and a CA bundle from files,
// reloads them when the files change or the process gets SIGHUP, and
// builds from them the TLS configurations of a node's client listeners,
// its mutually authenticated peer links and its clients.
package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Files names the PEM files of one identity. Cert and Key go together (a
// server's certificate, or a client's); CA is the bundle that certificates
// presented by the other side must chain to. Any may be empty where the
// use allows it (a client that only verifies the server needs only CA).
type Files struct {
	Cert, Key, CA string
}

// Empty reports whether no file is named.
func (f Files) Empty() bool { return f.Cert == "" && f.Key == "" && f.CA == "" }

// Source holds the current contents of Files. Configurations built from it
// read the current contents at every handshake, so a reload takes effect
// for new connections at once and leaves open ones alone.
type Source struct {
	files Files
	mu    sync.RWMutex
	cert  *tls.Certificate // nil without Cert
	pool  *x509.CertPool   // nil without CA
	mods  [3]time.Time     // modification times at the last load
}

// Load reads f. Cert and Key must be given together.
func Load(f Files) (*Source, error) {
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New("tls: a certificate and its key go together: give both files or neither")
	}
	s := &Source{files: f}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the files again. On any error it keeps what it had, so a
// half-written file during a rotation does not take the listener down.
func (s *Source) Reload() error {
	var cert *tls.Certificate
	if s.files.Cert != "" {
		c, err := tls.LoadX509KeyPair(s.files.Cert, s.files.Key)
		if err != nil {
			return fmt.Errorf("tls: loading %s and %s: %w", s.files.Cert, s.files.Key, err)
		}
		if c.Leaf == nil && len(c.Certificate) > 0 {
			c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
		}
		cert = &c
	}
	var pool *x509.CertPool
	if s.files.CA != "" {
		b, err := os.ReadFile(s.files.CA)
		if err != nil {
			return fmt.Errorf("tls: reading the CA bundle: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("tls: %s holds no PEM certificate", s.files.CA)
		}
	}
	mods := s.modTimes()
	s.mu.Lock()
	s.cert, s.pool, s.mods = cert, pool, mods
	s.mu.Unlock()
	return nil
}

func (s *Source) modTimes() [3]time.Time {
	var out [3]time.Time
	for i, p := range []string{s.files.Cert, s.files.Key, s.files.CA} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			out[i] = fi.ModTime()
		}
	}
	return out
}

// changed reports whether any file's modification time moved since the
// last load.
func (s *Source) changed() bool {
	now := s.modTimes()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return now != s.mods
}

// Watch reloads the files on SIGHUP and whenever their modification times
// change (checked every poll), until ctx ends. Failures are logged and the
// old contents kept.
func (s *Source) Watch(ctx context.Context, poll time.Duration, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		why := ""
		select {
		case <-ctx.Done():
			return
		case <-hup:
			why = "SIGHUP"
		case <-tick.C:
			if !s.changed() {
				continue
			}
			why = "files changed"
		}
		if err := s.Reload(); err != nil {
			log.Error("tls: reload failed; keeping the certificates loaded before", "why", why, "err", err)
			continue
		}
		log.Info("tls: certificates reloaded", "why", why, "cert", s.files.Cert, "ca", s.files.CA)
	}
}

// Certificate is the current certificate (nil without one).
func (s *Source) Certificate() *tls.Certificate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cert
}

// Pool is the current CA pool (nil without a CA file).
func (s *Source) Pool() *x509.CertPool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pool
}

// ServerConfig is a listener's configuration. With requireClient, a client
// must present a certificate that chains to the CA (etcd's
// --client-cert-auth; peers always do); otherwise a certificate it offers
// is verified and one it does not offer is not asked for.
func (s *Source) ServerConfig(requireClient bool) (*tls.Config, error) {
	if s.Certificate() == nil {
		return nil, errors.New("tls: a listener needs a certificate and key")
	}
	if requireClient && s.Pool() == nil {
		return nil, errors.New("tls: verifying client certificates needs a CA bundle")
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*s.Certificate()}}
		if pool := s.Pool(); pool != nil {
			c.ClientCAs = pool
			c.ClientAuth = tls.VerifyClientCertIfGiven
			if requireClient {
				c.ClientAuth = tls.RequireAndVerifyClientCert
			}
		}
		return c, nil
	}
	return base, nil
}

// ClientConfig is a dialer's configuration for a server named serverName
// (a host name or IP address its certificate must carry): the server's
// certificate must chain to the CA (or, without a CA file, to the system's
// roots), and the certificate, when there is one, is offered to it.
func (s *Source) ClientConfig(serverName string) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, RootCAs: s.Pool()}
	if s.Certificate() != nil {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.Certificate(), nil
		}
	}
	return c
}

// HTTPClientConfig is ClientConfig for an http.Transport, which sets
// ServerName itself from each request's host; it reads the CA pool at
// every handshake, so it follows reloads too.
func (s *Source) HTTPClientConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.Pool() != nil {
		// The pool may be replaced by a reload after this config is built:
		// verify against the pool current at the handshake.
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error { return s.verifyServer(cs) }
	}
	if s.Certificate() != nil {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.Certificate(), nil
		}
	}
	return c
}

// verifyServer checks a server's chain and name against the current pool,
// as crypto/tls would with RootCAs set.
func (s *Source) verifyServer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the server presented no certificate")
	}
	opts := x509.VerifyOptions{Roots: s.Pool(), DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	return err
}
