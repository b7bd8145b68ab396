package node

import (
	"context"
	"fmt"
	"github.com/distkv/distkv/internal/frontend/compat/seed000"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/frontend/ftp"
	"github.com/distkv/distkv/internal/frontend/resp"
	"github.com/distkv/distkv/internal/frontend/watchhttp"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
	"github.com/distkv/distkv/internal/watch"
)

// FilesNamespace holds the files served over FTP. Its change events are
// shown as file events (path, put/delete), not as the chunk and manifest
// keys that store them.
const FilesNamespace = "files"

// publishChanges turns applied writes into watch events. It runs on the
// Raft loop after the writes are durable, on every replica, so a watcher
// on any replica's node sees every write of the shard.
func (n *Node) publishChanges(ns *membership.NamespaceMap, chs []kv.Change) {
	now := n.cfg.Clock.Now()
	evs := make([]watch.Event, 0, len(chs))
	for _, ch := range chs {
		ev := watch.Event{NS: ns.Name, Key: string(ch.Key), Op: watch.OpPut, Version: ch.Version,
			Value: ch.Value, Node: n.NodeID(), Time: now, Shard: keyspace.GroupID(ch.Group).Shard()}
		if ch.Deleted {
			ev.Op = watch.OpDelete
		}
		if ns.Name == FilesNamespace {
			path, dir, ok := ftp.FileOfKey(ch.Key)
			if !ok {
				continue // a chunk: internal
			}
			ev.Key = strings.TrimPrefix(path, "/")
			if dir {
				ev.Key += "/"
			}
		}
		evs = append(evs, ev)
	}
	if len(evs) > 0 {
		n.hub.Publish(evs)
	}
}

// seedWatch tells the hub a shard's history starts at index (a snapshot).
func (n *Node) seedWatch(ns *membership.NamespaceMap, group, index uint64) {
	n.hub.Seed(ns.Name, keyspace.GroupID(group).Shard(), index)
}

// seedWatchHistory tells the hub, at startup, that it cannot replay what
// the local replicas applied before this process started.
func (n *Node) seedWatchHistory() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sts, err := n.host.Status(ctx)
	if err != nil {
		n.log.Warn("reading applied indexes for the watch history", "err", err)
		return
	}
	m := n.meta.Current()
	for _, st := range sts {
		g := keyspace.GroupID(st.Group)
		if ns := m.NamespaceByID(g.Namespace()); ns != nil && g != keyspace.MetaGroup {
			n.hub.Seed(ns.Name, g.Shard(), st.Applied)
		}
	}
}

// Hub returns the node's change-event hub.
func (n *Node) Hub() *watch.Hub { return n.hub }

func (n *Node) watchRoutes(mux *http.ServeMux) {
	watchhttp.Register(mux, watchhttp.Config{
		Hub:    n.hub,
		Node:   n.NodeID(),
		Logger: n.log.With("component", "watch"),
		Namespaces: func(name string) bool {
			return n.meta.Current().Namespace(name) != nil
		},
	})
}

// ensureNamespace creates a strong namespace with default settings if it
// does not exist (the files namespace, on first FTP use).
func (n *Node) ensureNamespace(ctx context.Context, name string) error {
	if n.meta.Current().Namespace(name) != nil {
		return nil
	}
	_, _, err := n.CreateNamespace(ctx, api.Namespace{Name: name})
	return err
}

// frontends are the optional protocol servers a node runs beside HTTP.
type frontends struct {
	redis *resp.Server
	ftp   *ftp.Server
	text  *seed000.Server
}

// startFrontends starts the Redis-protocol and FTP listeners configured in
// o. They serve until closed.
func (n *Node) startFrontends(o Options) (*frontends, error) {
	f := &frontends{}
	if o.RedisAddr != "" {
		ln, err := n.clientListener(o.RedisAddr)
		if err != nil {
			return nil, fmt.Errorf("redis listener: %w", err)
		}
		s, err := resp.New(resp.Config{Listener: ln, KV: n.kv, Node: n, Txn: n, Logger: n.log.With("component", "redis")})
		if err != nil {
			return nil, fmt.Errorf("redis listener: %w", err)
		}
		f.redis = s
		go func() { _ = s.Serve() }()
		n.log.Info("serving the Redis protocol", "redis_addr", s.Addr().String())
	}
	if o.FTPAddr != "" && n.cfg.TLS.clientScheme() == "https" {
		// goftp sets up AUTH TLS only in its own ListenAndServe, which
		// cannot take the listener the server tracks; rather than serve
		// passwords in the clear beside TLS listeners, refuse.
		f.close()
		return nil, fmt.Errorf("ftp listener: FTP over TLS is not supported yet; with --tls-cert, leave --ftp-addr unset")
	}
	if o.FTPAddr != "" {
		s, err := ftp.New(ftp.Config{
			Addr: o.FTPAddr, KV: n.kv, Namespace: FilesNamespace,
			EnsureNamespace: n.ensureNamespace, User: o.FTPUser, Password: o.FTPPassword,
			Logger: n.log.With("component", "ftp"), RequestTimeout: 10 * time.Second,
		})
		if err != nil {
			f.close()
			return nil, fmt.Errorf("ftp listener: %w", err)
		}
		f.ftp = s
		go func() { _ = s.Serve() }()
		n.log.Info("serving FTP", "ftp_addr", s.Addr().String())
	}
	if o.TextAddr != "" {
		ln, err := n.clientListener(o.TextAddr)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("text protocol listener: %w", err)
		}
		s, err := seed000.Serve(ln, n.kv, n.log.With("component", "seed000"))
		if err != nil {
			f.close()
			return nil, fmt.Errorf("text protocol listener: %w", err)
		}
		f.text = s
		go func() { _ = s.Serve() }()
		n.log.Info("serving seed 000's text protocol", "text_addr", s.Addr().String())
	}
	return f, nil
}

func (f *frontends) close() {
	if f.text != nil {
		_ = f.text.Close()
	}
	if f.redis != nil {
		_ = f.redis.Close()
	}
	if f.ftp != nil {
		_ = f.ftp.Close()
	}
}

// clientListener listens on addr for clients, with TLS when the node
// serves clients over TLS.
func (n *Node) clientListener(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return n.cfg.TLS.wrapClientListener(ln), nil
}
