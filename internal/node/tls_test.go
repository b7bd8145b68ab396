package node

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/internal/certs"
)

func TestTLSOptionsBuild(t *testing.T) {
	dir := t.TempDir()
	if err := certs.InitCA(dir, time.Hour); err != nil {
		t.Fatal(err)
	}
	cert, key, err := certs.Node(dir, "n1", []string{"127.0.0.1"}, time.Time{}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, certs.CACert)
	if tl, err := (TLSOptions{}).build(); tl != nil || err != nil {
		t.Fatalf("no files: %v, %v; want no TLS", tl, err)
	}
	for _, tc := range []struct {
		o    TLSOptions
		want string
	}{
		{TLSOptions{PeerCert: cert, PeerKey: key}, "together"},
		{TLSOptions{ClientCA: ca}, "need --tls-cert"},
		{TLSOptions{Cert: cert}, "go together"},
		{TLSOptions{Cert: cert, Key: key, ClientCertAuth: true}, "CA bundle"},
		{TLSOptions{Cert: cert, Key: filepath.Join(dir, "missing.key")}, "missing.key"},
	} {
		if _, err := tc.o.build(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error containing %q", tc.o, err, tc.want)
		}
	}
	tl, err := TLSOptions{Cert: cert, Key: key, ClientCA: ca, PeerCert: cert, PeerKey: key, PeerCA: ca}.build()
	if err != nil {
		t.Fatal(err)
	}
	if tl.clientScheme() != "https" || tl.Peer == nil || tl.clientHTTP() == nil {
		t.Fatalf("full TLS options built %+v", tl)
	}
	var none *TLS
	if none.clientScheme() != "http" {
		t.Fatal("no TLS should mean http")
	}
}
