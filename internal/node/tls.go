package node

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/distkv/distkv/internal/tlsconf"
)

// TLS is a node's transport security. Client listeners (HTTP with its
// watch feed and multiplexed connections, Redis, seed 000's text
// protocol) serve Client's certificate (FTP is refused with TLS on: its
// library cannot yet take AUTH TLS on our listener); peer links use mutual
// TLS with Peer's certificate and CA, refusing and logging a peer whose
// certificate that CA did not sign. A node calling another node's client
// address (to join, or to number itself) presents its peer certificate
// and trusts the client CA (or, without one, the peer CA).
type TLS struct {
	// Client is the client listeners' certificate and, with
	// ClientCertAuth, the CA client certificates must chain to. Nil
	// serves clients in the clear.
	Client         *tlsconf.Source
	ClientCertAuth bool
	// Peer is the node's peer certificate and the CA its peers' must
	// chain to. Nil links peers in the clear.
	Peer *tlsconf.Source
	// outbound is what the node presents and trusts calling other nodes'
	// client addresses; http is the client doing it.
	outbound *tlsconf.Source
	http     *http.Client
}

// TLSOptions are the certificate flags (PEM file paths).
type TLSOptions struct {
	Cert, Key, ClientCA       string
	ClientCertAuth            bool
	PeerCert, PeerKey, PeerCA string
}

// certReload is how often the certificate files are checked for changes
// (SIGHUP reloads at once).
const certReload = 10 * time.Second

// build loads the files; no file at all means no TLS (nil).
func (o TLSOptions) build() (*TLS, error) {
	if o == (TLSOptions{}) {
		return nil, nil
	}
	t := &TLS{ClientCertAuth: o.ClientCertAuth}
	var err error
	switch {
	case o.Cert != "" || o.Key != "":
		if t.Client, err = tlsconf.Load(tlsconf.Files{Cert: o.Cert, Key: o.Key, CA: o.ClientCA}); err != nil {
			return nil, err
		}
		if _, err := t.Client.ServerConfig(o.ClientCertAuth); err != nil {
			return nil, err
		}
	case o.ClientCA != "" || o.ClientCertAuth:
		return nil, errors.New("--client-ca and --client-cert-auth need --tls-cert and --tls-key (the client listeners' certificate)")
	}
	if o.PeerCert != "" || o.PeerKey != "" || o.PeerCA != "" {
		if o.PeerCert == "" || o.PeerKey == "" || o.PeerCA == "" {
			return nil, errors.New("peer TLS is mutual: give --peer-cert, --peer-key and --peer-ca together")
		}
		if t.Peer, err = tlsconf.Load(tlsconf.Files{Cert: o.PeerCert, Key: o.PeerKey, CA: o.PeerCA}); err != nil {
			return nil, err
		}
	}
	ca := o.ClientCA
	if ca == "" {
		ca = o.PeerCA
	}
	if t.outbound, err = tlsconf.Load(tlsconf.Files{Cert: o.PeerCert, Key: o.PeerKey, CA: ca}); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = t.outbound.HTTPClientConfig()
	t.http = &http.Client{Transport: tr}
	return t, nil
}

// watch reloads every source on file change or SIGHUP until ctx ends.
func (t *TLS) watch(ctx context.Context, log *slog.Logger) {
	if t == nil {
		return
	}
	for _, s := range []*tlsconf.Source{t.Client, t.Peer, t.outbound} {
		if s != nil {
			go s.Watch(ctx, certReload, log.With("component", "tls"))
		}
	}
}

// wrapClientListener serves TLS on ln when client TLS is configured.
func (t *TLS) wrapClientListener(ln net.Listener) net.Listener {
	if t == nil || t.Client == nil {
		return ln
	}
	cfg, _ := t.Client.ServerConfig(t.ClientCertAuth) // checked in build
	return tls.NewListener(ln, cfg)
}

// clientScheme is the scheme of other nodes' client addresses.
func (t *TLS) clientScheme() string {
	if t == nil || t.Client == nil {
		return "http"
	}
	return "https"
}

// clientHTTP calls other nodes' client addresses.
func (t *TLS) clientHTTP() *http.Client {
	if t == nil || t.Client == nil {
		return http.DefaultClient
	}
	return t.http
}
