package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/membership"
)

// Joining an existing cluster. A node started with Join and a new data
// directory asks a member to admit it (POST /v1/admin/members, which the
// coordinator records as a joining member). The answer names the cluster
// and its members; the node stores a provisional map with them (epoch 0,
// no namespaces), creates its metadata replica empty, and waits: the
// coordinator adds it to the metadata group as a learner, whose leader
// sends it a snapshot with the real map, and once it has caught up makes
// it active and starts moving replicas to it.

// joinTimeout bounds the whole admission.
const joinTimeout = 30 * time.Second

// join asks the configured members, in turn, to admit this node.
func (n *Node) join() (api.MemberChange, error) {
	req := api.MemberRequest{ID: n.cfg.ID.String(), PeerAddr: n.cfg.PeerAddr, ClientAddr: n.cfg.ClientAddr,
		RedisAddr: n.cfg.RedisAddr, FTPAddr: n.cfg.FTPAddr}
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	if n.cfg.JoinFunc != nil {
		return n.cfg.JoinFunc(ctx, req)
	}
	var errs []error
	for attempt := 0; ctx.Err() == nil; attempt++ {
		for _, addr := range n.cfg.Join {
			ch, err := postJoin(ctx, n.cfg.TLS, addr, req)
			if err == nil {
				return ch, nil
			}
			var refused *joinRefused
			if errors.As(err, &refused) {
				return api.MemberChange{}, err // the cluster said no: retrying will not help
			}
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(min(attempt+1, 10)) * 100 * time.Millisecond):
		}
	}
	return api.MemberChange{}, fmt.Errorf("node: no member of the cluster to join answered within %v: %w", joinTimeout, errors.Join(errs...))
}

// joinRefused is a member's definite refusal (a 4xx answer).
type joinRefused struct {
	status int
	msg    string
}

func (e *joinRefused) Error() string {
	return fmt.Sprintf("the cluster refused to admit this node (%d): %s", e.status, e.msg)
}

func postJoin(ctx context.Context, sec *TLS, addr string, req api.MemberRequest) (api.MemberChange, error) {
	body, _ := json.Marshal(req)
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(c, http.MethodPost, sec.clientScheme()+"://"+addr+"/v1/admin/members", bytes.NewReader(body))
	if err != nil {
		return api.MemberChange{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := sec.clientHTTP().Do(hr)
	if err != nil {
		return api.MemberChange{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return api.MemberChange{}, err
	}
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		var eb api.ErrorBody
		msg := string(b)
		if json.Unmarshal(b, &eb) == nil && eb.Error.Message != "" {
			msg = eb.Error.Message
		}
		return api.MemberChange{}, &joinRefused{resp.StatusCode, msg}
	}
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return api.MemberChange{}, fmt.Errorf("answered %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var ch api.MemberChange
	if err := json.Unmarshal(b, &ch); err != nil {
		return api.MemberChange{}, fmt.Errorf("undecodable answer: %w", err)
	}
	return ch, nil
}

// provisionalMap turns a join's answer into the map a joining node starts
// from.
func provisionalMap(ch api.MemberChange) (*membership.Map, error) {
	if ch.ClusterID == 0 {
		return nil, errors.New("node: the join answer names no cluster")
	}
	var ms []membership.Member
	for _, am := range ch.Members {
		id, err := keyspace.ParseNodeID(am.ID)
		if err != nil {
			return nil, fmt.Errorf("node: join answer: %w", err)
		}
		var st membership.MemberState
		if err := st.UnmarshalText([]byte(am.State)); err != nil {
			return nil, fmt.Errorf("node: join answer: %w", err)
		}
		ms = append(ms, membership.Member{ID: id, PeerAddr: am.PeerAddr, ClientAddr: am.ClientAddr, State: st})
	}
	return membership.Provisional(ch.ClusterID, ms), nil
}

// checkJoinTarget verifies, for a node that already has data and was
// started with Join, that the cluster it names is the one its data
// belongs to. An unreachable cluster is not an error (the node may be the
// first to come back); a different one is.
func (n *Node) checkJoinTarget(m *membership.Map) error {
	if len(n.cfg.Join) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, addr := range n.cfg.Join {
		id, err := clusterIDAt(ctx, n.cfg.TLS, addr)
		if err != nil {
			continue
		}
		if id != m.ClusterID() {
			return fmt.Errorf("node: the data directory %s belongs to cluster %d, but %s serves cluster %d; use a new data directory to join it", n.cfg.DataDir, m.ClusterID(), addr, id)
		}
		return nil
	}
	n.log.Warn("could not reach the cluster given to join; starting from the data directory", "join", n.cfg.Join)
	return nil
}

func clusterIDAt(ctx context.Context, sec *TLS, addr string) (uint64, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, sec.clientScheme()+"://"+addr+"/v1/cluster", nil)
	if err != nil {
		return 0, err
	}
	resp, err := sec.clientHTTP().Do(hr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var cl api.Cluster
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&cl); err != nil {
		return 0, err
	}
	if cl.ClusterID == 0 {
		return 0, errors.New("no cluster ID in the answer")
	}
	return cl.ClusterID, nil
}

// idFile keeps, in the data directory, the ID a node was assigned when it
// joined (Config.AssignID), so later starts keep it.
const idFile = "node-id"

// assignID gives a node started without an ID (seed 004's late node) the
// one the cluster has for its peer address, or the next free one, asking
// the members in cfg.Join; a data directory remembers it.
func assignID(cfg *Config) error {
	var path string
	if cfg.DataDir != "" && !cfg.InMemory {
		path = filepath.Join(cfg.DataDir, idFile)
		if b, err := os.ReadFile(path); err == nil {
			id, err := keyspace.ParseNodeID(strings.TrimSpace(string(b)))
			if err != nil {
				return fmt.Errorf("node: %s: %w", path, err)
			}
			cfg.ID = id
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	var errs []error
	for attempt := 0; cfg.ID == 0; attempt++ {
		for _, addr := range cfg.Join {
			id, err := idFromCluster(ctx, cfg.TLS, addr, cfg.PeerAddr)
			if err == nil {
				cfg.ID = id
				break
			}
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		}
		if cfg.ID != 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: no member of the cluster answered within %v to number this node: %w", joinTimeout, errors.Join(errs...))
		case <-time.After(time.Duration(min(attempt+1, 10)) * 100 * time.Millisecond):
		}
	}
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(cfg.ID.String()+"\n"), 0o644)
}

// idFromCluster asks the member at addr for the ID of the member with
// peer address peer, or else one more than the highest ID it has given.
func idFromCluster(ctx context.Context, sec *TLS, addr, peer string) (keyspace.NodeID, error) {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(c, http.MethodGet, sec.clientScheme()+"://"+addr+"/v1/cluster", nil)
	if err != nil {
		return 0, err
	}
	resp, err := sec.clientHTTP().Do(hr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /v1/cluster answered %s", resp.Status)
	}
	var cl api.Cluster
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&cl); err != nil {
		return 0, err
	}
	var top keyspace.NodeID
	for _, nd := range cl.Nodes {
		id, err := keyspace.ParseNodeID(nd.ID)
		if err != nil {
			return 0, err
		}
		if nd.PeerAddr == peer && nd.Membership != membership.MemberRemoved.String() {
			return id, nil
		}
		top = max(top, id)
	}
	if len(cl.Nodes) == 0 {
		return 0, errors.New("the cluster lists no members")
	}
	return top + 1, nil
}
