package node

import (
	"net/http"
	"os"
	"slices"

	"github.com/distkv/distkv/internal/frontend/compat/seed001"
	"github.com/distkv/distkv/internal/frontend/compat/seed002"
	"github.com/distkv/distkv/internal/frontend/compat/seed003"
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
