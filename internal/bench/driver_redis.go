package bench

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisDriver drives the Redis protocol with go-redis: GET and SET, and
// HSET and HGETALL for the hash workloads, over RESP2 or RESP3
// (Options.Protocol). It builds one client per endpoint (one Redis, or each node's front end of
// a distkv cluster) and hands them to workers in turn; each client's pool
// holds a connection for every worker that uses it. Retries are off: a
// failed command is reported, never silently resent.
type redisDriver struct {
	clients []*redis.Client
}

func newRedisDriver(o Options) (*redisDriver, error) {
	per := max(1, (o.Clients+len(o.Endpoints)-1)/len(o.Endpoints))
	timeout := time.Duration(o.OpTimeout)
	d := &redisDriver{}
	for _, ep := range o.Endpoints {
		opts := &redis.Options{
			Addr:                  ep,
			Protocol:              o.Protocol,
			PoolSize:              per,
			MaxRetries:            -1,
			DialTimeout:           timeout,
			ReadTimeout:           timeout,
			WriteTimeout:          timeout,
			ContextTimeoutEnabled: true,
			DisableIdentity:       true,
		}
		if ns := o.Namespace; ns != "" && ns != "default" {
			opts.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
				return cn.Do(ctx, "NS", ns).Err()
			}
		}
		d.clients = append(d.clients, redis.NewClient(opts))
	}
	return d, nil
}

func (d *redisDriver) Session(i int) Session { return redisSession{d.clients[i%len(d.clients)]} }

func (d *redisDriver) Close() error {
	var errs []error
	for _, c := range d.clients {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

type redisSession struct{ c *redis.Client }

func (s redisSession) Get(ctx context.Context, key []byte) (bool, error) {
	err := s.c.Get(ctx, string(key)).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return err == nil, classified(redisKind(err, false), err)
}

func (s redisSession) Put(ctx context.Context, key, value []byte) error {
	err := s.c.Set(ctx, string(key), value, 0).Err()
	return classified(redisKind(err, true), err)
}

// Txn is MULTI, a SET per key, EXEC (against distkv's Redis door, one
// distkv transaction).
func (s redisSession) Txn(ctx context.Context, keys [][]byte, value []byte) error {
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Set(ctx, string(k), value, 0)
		}
		return nil
	})
	return classified(redisKind(err, true), err)
}

func (s redisSession) HSetRecord(ctx context.Context, key []byte, fields [][]byte, value []byte) error {
	args := make([]any, 0, 2*len(fields))
	for _, f := range fields {
		args = append(args, f, value)
	}
	err := s.c.HSet(ctx, string(key), args...).Err()
	return classified(redisKind(err, true), err)
}

func (s redisSession) HSet(ctx context.Context, key, field, value []byte) error {
	err := s.c.HSet(ctx, string(key), field, value).Err()
	return classified(redisKind(err, true), err)
}

func (s redisSession) HGetAll(ctx context.Context, key []byte) (bool, error) {
	m, err := s.c.HGetAll(ctx, string(key)).Result()
	return len(m) > 0, classified(redisKind(err, false), err)
}

// redisKind classifies a go-redis error: the error replies of distkv's
// front end (TRYAGAIN, "ERR outcome unknown", "ERR timeout"), then
// transport failures.
func redisKind(err error, write bool) string {
	if err == nil {
		return ""
	}
	var re redis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		switch {
		case strings.HasPrefix(msg, "TRYAGAIN"), strings.HasPrefix(msg, "LOADING"), strings.HasPrefix(msg, "CLUSTERDOWN"):
			return KindUnavailable
		case strings.HasPrefix(msg, "ERR outcome unknown"):
			return KindOutcomeUnknown
		case strings.HasPrefix(msg, "ERR timeout"):
			return KindTimeout
		}
		return KindOther
	}
	if k, ok := transportKind(err, write); ok {
		return k
	}
	if errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) {
		return KindUnavailable
	}
	return KindOther
}
