package bench

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/distkv/distkv/client"
)

// distkvDriver drives distkv's HTTP API through package client. It builds
// one client per endpoint, each starting at a different endpoint (client
// i's list is the endpoints rotated by i), and hands them to workers in
// turn, so the load is spread over the nodes as etcd's client spreads
// its calls; the clients fail over as usual. Writes go straight to their
// shard's leader when the client knows it (client.Config.RouteWrites), as
// a long-lived distkv application would send them. Each client sends its
// calls on one multiplexed connection per node (client.Config.Multiplex),
// as etcd's client multiplexes its calls over gRPC; the plain-HTTP
// connection pool they share (for a node without multiplexing) is sized for
// every worker, so no request waits for or churns a connection.
type distkvDriver struct {
	sessions []*distkvSession
	tr       *http.Transport
}

type distkvSession struct {
	c        *client.Client
	readOpts []client.ReadOption
}

func newDistkvDriver(o Options) (*distkvDriver, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = o.Clients
	tr.MaxIdleConns = o.Clients * len(o.Endpoints)
	hc := &http.Client{Transport: tr}
	d := &distkvDriver{tr: tr}
	var readOpts []client.ReadOption
	if o.Consistency == Stale {
		readOpts = []client.ReadOption{client.Stale()}
	}
	for i := range o.Endpoints {
		rotated := append(append([]string{}, o.Endpoints[i:]...), o.Endpoints[:i]...)
		c, err := client.New(client.Config{
			Endpoints:    rotated,
			Timeout:      time.Duration(o.OpTimeout),
			RetryTimeout: time.Duration(o.OpTimeout),
			HTTPClient:   hc,
			Namespace:    o.Namespace,
			RouteWrites:  true,
			Multiplex:    true,
		})
		if err != nil {
			return nil, err
		}
		d.sessions = append(d.sessions, &distkvSession{c: c, readOpts: readOpts})
	}
	return d, nil
}

func (d *distkvDriver) Session(i int) Session { return d.sessions[i%len(d.sessions)] }

func (d *distkvDriver) Close() error {
	for _, s := range d.sessions {
		s.c.Close()
	}
	d.tr.CloseIdleConnections()
	return nil
}

func (s *distkvSession) Get(ctx context.Context, key []byte) (bool, error) {
	_, err := s.c.Get(ctx, string(key), s.readOpts...)
	if errors.Is(err, client.ErrNotFound) {
		return false, nil
	}
	return err == nil, classified(distkvKind(err), err)
}

func (s *distkvSession) Txn(ctx context.Context, keys [][]byte, value []byte) error {
	b := client.NewTxn()
	for _, k := range keys {
		b.Put(string(k), string(value))
	}
	_, err := s.c.Txn(ctx, b.Request())
	return classified(distkvKind(err), err)
}

func (s *distkvSession) Put(ctx context.Context, key, value []byte) error {
	_, err := s.c.Put(ctx, string(key), value)
	return classified(distkvKind(err), err)
}

// distkvKind classifies an error of package client.
func distkvKind(err error) string {
	switch {
	case errors.Is(err, client.ErrOutcomeUnknown):
		return KindOutcomeUnknown
	case errors.Is(err, client.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	case errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrNoEndpoint):
		return KindUnavailable
	}
	return KindOther
}
