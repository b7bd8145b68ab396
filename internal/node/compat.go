package node

import (
	"net/http"
	"os"
	"slices"

	"github.com/distkv/distkv/internal/frontend/compat/seed001"
	"github.com/distkv/distkv/internal/frontend/compat/seed002"
	"github.com/distkv/distkv/internal/frontend/compat/seed003"
	"github.com/distkv/distkv/internal/frontend/compat/seed004"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
)

// compatRoutes serves the seed interfaces the node was started with
// (--compat) on its client address, beside the v1 API.
func (n *Node) compatRoutes(mux *http.ServeMux) {
	if slices.Contains(n.cfg.Compat, "seed001") {
		seed001.Register(mux, seed001.Config{KV: n.kv, NodeID: n.NodeID(), Logger: n.log.With("component", "seed001"), Screen: os.Stdout})
	}
	if slices.Contains(n.cfg.Compat, "seed002") {
		seed002.Register(mux, seed002.Config{KV: n.kv, Cluster: n, Token: n.cfg.CompatToken})
	}
	if slices.Contains(n.cfg.Compat, "seed003") {
		page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/ui/watch" // seed 003's /client: the live watch page
			mux.ServeHTTP(w, r2)
		})
		seed003.Register(mux, seed003.Config{KV: n.kv, Txn: n, Page: page})
	}
	if slices.Contains(n.cfg.Compat, "seed004") {
		seed004.Register(mux, seed004.Config{KV: n.kv, Cluster: seed004Cluster{n}})
	}
}

// seed004Cluster is the node as seed 004's API sees it.
type seed004Cluster struct{ *Node }

func (c seed004Cluster) Self() keyspace.NodeID { return c.cfg.ID }

func (c seed004Cluster) Up(id keyspace.NodeID) bool { return c.detector.State(id) != membership.Dead }

func (c seed004Cluster) PeerAddr(addr string) (string, error) {
	return offsetPort(addr, PeerPortOffset)
}

// sysID names the node on every response, as seed 001's X-Sys-Id does,
// when its interface is on.
func (n *Node) sysID(h http.Handler) http.Handler {
	if !slices.Contains(n.cfg.Compat, "seed001") {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(seed001.HeaderSysID, n.NodeID())
		h.ServeHTTP(w, r)
	})
}
