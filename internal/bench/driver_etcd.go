package bench

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// etcdDialTimeout bounds connecting to etcd when the driver is built.
const etcdDialTimeout = 5 * time.Second

// etcdDriver drives etcd's v3 API: Put, and Get (linearizable, or
// serializable for --consistency stale). It opens one client, that is
// one gRPC connection per member balanced round-robin, for every
// ClientsPerEtcdConn workers.
type etcdDriver struct {
	clients  []*clientv3.Client
	sessions []*etcdSession
}

type etcdSession struct {
	c      *clientv3.Client
	getOps []clientv3.OpOption
}

func newEtcdDriver(ctx context.Context, o Options) (*etcdDriver, error) {
	n := max(1, (o.Clients+ClientsPerEtcdConn-1)/ClientsPerEtcdConn)
	var getOps []clientv3.OpOption
	if o.Consistency == Stale {
		getOps = []clientv3.OpOption{clientv3.WithSerializable()}
	}
	d := &etcdDriver{}
	for range n {
		c, err := clientv3.New(clientv3.Config{
			Endpoints:   o.Endpoints,
			DialTimeout: etcdDialTimeout,
			Logger:      zap.NewNop(),
			Context:     ctx,
		})
		if err != nil {
			d.Close()
			return nil, err
		}
		d.clients = append(d.clients, c)
		d.sessions = append(d.sessions, &etcdSession{c: c, getOps: getOps})
	}
	return d, nil
}

func (d *etcdDriver) Session(i int) Session { return d.sessions[i%len(d.sessions)] }

func (d *etcdDriver) Close() error {
	var errs []error
	for _, c := range d.clients {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (s *etcdSession) Get(ctx context.Context, key []byte) (bool, error) {
	resp, err := s.c.Get(ctx, string(key), s.getOps...)
	if err != nil {
		return false, classified(etcdKind(err, false), err)
	}
	return len(resp.Kvs) > 0, nil
}

func (s *etcdSession) Txn(ctx context.Context, keys [][]byte, value []byte) error {
	ops := make([]clientv3.Op, 0, len(keys))
	for _, k := range keys {
		ops = append(ops, clientv3.OpPut(string(k), string(value)))
	}
	_, err := s.c.Txn(ctx).Then(ops...).Commit()
	return classified(etcdKind(err, true), err)
}

func (s *etcdSession) Put(ctx context.Context, key, value []byte) error {
	_, err := s.c.Put(ctx, string(key), string(value))
	return classified(etcdKind(err, true), err)
}

// etcdKind classifies an error of etcd's client. Server-side timeouts
// are outcome-unknown for writes, as a distkv 504 is; a missing or
// changing leader is unavailable.
func etcdKind(err error, write bool) string {
	switch {
	case errors.Is(err, rpctypes.ErrTimeout), errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost), errors.Is(err, context.DeadlineExceeded),
		status.Code(err) == codes.DeadlineExceeded:
		if write {
			return KindOutcomeUnknown
		}
		return KindTimeout
	case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrLeaderChanged),
		errors.Is(err, rpctypes.ErrStopped), status.Code(err) == codes.Unavailable:
		return KindUnavailable
	}
	if k, ok := transportKind(err, write); ok {
		return k
	}
	return KindOther
}
