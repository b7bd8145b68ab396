// Package certs creates a local certificate authority and the node and
// client certificates it signs, as PEM files, for development and test
// clusters (production clusters bring their own PKI).
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names inside a certificate directory.
const (
	CACert = "ca.crt"
	CAKey  = "ca.key"
)

// NodeFiles and ClientFiles name a node's or a client's pair in dir.
func NodeFiles(dir, name string) (cert, key string) {
	return filepath.Join(dir, "node-"+name+".crt"), filepath.Join(dir, "node-"+name+".key")
}

// ClientFiles names a client's pair in dir.
func ClientFiles(dir, user string) (cert, key string) {
	return filepath.Join(dir, "client-"+user+".crt"), filepath.Join(dir, "client-"+user+".key")
}

// InitCA creates a CA in dir (ca.crt, ca.key), valid for validFor. An
// existing CA is left alone and reported as an error, so certificates it
// signed are not orphaned by accident.
func InitCA(dir string, validFor time.Duration) error {
	if _, err := os.Stat(filepath.Join(dir, CAKey)); err == nil {
		return fmt.Errorf("certs: %s already holds a CA; remove it to make a new one", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "distkv CA", Organization: []string{"distkv"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	return writePair(filepath.Join(dir, CACert), filepath.Join(dir, CAKey), der, key)
}

// Node signs a certificate for a node named name serving at hosts (IP
// addresses and DNS names; its listeners' and peers' addresses), usable
// both as a server and as a client (nodes call each other), valid for
// validFor from notBefore (zero: now).
func Node(dir, name string, hosts []string, notBefore time.Time, validFor time.Duration) (cert, key string, err error) {
	if len(hosts) == 0 {
		return "", "", errors.New("certs: a node certificate needs at least one host (IP or DNS name)")
	}
	cert, key = NodeFiles(dir, name)
	tmpl := leaf(name, notBefore, validFor)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return cert, key, sign(dir, tmpl, cert, key)
}

// Client signs a client certificate whose common name is user, valid for
// validFor from notBefore (zero: now).
func Client(dir, user string, notBefore time.Time, validFor time.Duration) (cert, key string, err error) {
	if user == "" {
		return "", "", errors.New("certs: a client certificate needs a user name")
	}
	cert, key = ClientFiles(dir, user)
	tmpl := leaf(user, notBefore, validFor)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return cert, key, sign(dir, tmpl, cert, key)
}

func leaf(cn string, notBefore time.Time, validFor time.Duration) *x509.Certificate {
	start := notBefore
	if notBefore.IsZero() {
		start = time.Now()
		notBefore = start.Add(-time.Hour) // tolerate a little clock skew
	}
	return &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"distkv"}},
		NotBefore:    notBefore,
		NotAfter:     start.Add(validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
}

func sign(dir string, tmpl *x509.Certificate, certPath, keyPath string) error {
	ca, caKey, err := loadCA(dir)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	return writePair(certPath, keyPath, der, key)
}

func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(filepath.Join(dir, CACert))
	if err != nil {
		return nil, nil, fmt.Errorf("certs: no CA in %s (run 'distkv certs init' first): %w", dir, err)
	}
	kb, err := os.ReadFile(filepath.Join(dir, CAKey))
	if err != nil {
		return nil, nil, fmt.Errorf("certs: the CA's key: %w", err)
	}
	cp, _ := pem.Decode(cb)
	kp, _ := pem.Decode(kb)
	if cp == nil || kp == nil {
		return nil, nil, fmt.Errorf("certs: %s: the CA files are not PEM", dir)
	}
	ca, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: the CA certificate: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kp.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: the CA key: %w", err)
	}
	return ca, key, nil
}

// writePair writes the certificate (0644) and key (0600) through temporary
// files renamed into place, so a node reloading them never reads half.
func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}
