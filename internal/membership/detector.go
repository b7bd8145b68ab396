package membership

import (
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/distkv/distkv/internal/keyspace"
)

// State is a peer's liveness as this node's failure detector sees it.
type State uint8

const (
	// Alive: heard from within SuspectAfter.
	Alive State = iota + 1
	// Suspect: silent longer than SuspectAfter; may be slow or cut off.
	Suspect
	// Dead: silent longer than DeadAfter.
	Dead
)

func (s State) String() string {
	switch s {
	case Alive:
		return "alive"
	case Suspect:
		return "suspect"
	case Dead:
		return "dead"
	}
	return "unknown"
}

// Heartbeat is what nodes send each other every interval: who they are,
// how to reach their front ends, and when they started (a changed start
// time means the peer restarted).
type Heartbeat struct {
	ID         keyspace.NodeID `json:"id"`
	Started    int64           `json:"started"`
	ClientAddr string          `json:"client_addr,omitempty"`
	RedisAddr  string          `json:"redis_addr,omitempty"`
	FTPAddr    string          `json:"ftp_addr,omitempty"`
	// Epoch is the shard map epoch the sender has applied, so the
	// coordinator knows when every node has learned of a change.
	Epoch uint64 `json:"epoch,omitempty"`
}

// DetectorConfig configures a Detector.
type DetectorConfig struct {
	Self keyspace.NodeID
	// Announce is this node's own heartbeat content (ID is filled in).
	Announce Heartbeat
	// Send delivers a heartbeat payload to a peer (fire and forget).
	Send func(to keyspace.NodeID, payload []byte)
	// SuspectAfter and DeadAfter: silence thresholds. Defaults 1s and 3s.
	SuspectAfter, DeadAfter time.Duration
	// OnChange is called (outside the detector's lock) when a peer's state
	// changes.
	OnChange func(id keyspace.NodeID, from, to State)
	Logger   *slog.Logger
}

// PeerStatus is one peer as the detector sees it.
type PeerStatus struct {
	State    State
	LastSeen time.Time // zero if never heard from
	Info     Heartbeat
}

// Detector is a heartbeat failure detector shared by every replication
// group of the node: one small message per peer per interval, rather than
// one per Raft group. It does not own time: the node calls Tick on its
// ticker, and tests call it with a manual clock's time.
type Detector struct {
	cfg DetectorConfig

	mu struct {
		sync.Mutex
		peers    map[keyspace.NodeID]*PeerStatus
		announce Heartbeat
		payload  []byte
	}
}

// NewDetector returns a detector for the given peers, all initially
// suspect (not yet heard from) as of now.
func NewDetector(cfg DetectorConfig, peers []keyspace.NodeID, now time.Time) *Detector {
	if cfg.SuspectAfter <= 0 {
		cfg.SuspectAfter = time.Second
	}
	if cfg.DeadAfter <= cfg.SuspectAfter {
		cfg.DeadAfter = 3 * cfg.SuspectAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Announce.ID = cfg.Self
	d := &Detector{cfg: cfg}
	d.mu.announce = cfg.Announce
	d.mu.payload, _ = json.Marshal(cfg.Announce)
	d.mu.peers = make(map[keyspace.NodeID]*PeerStatus)
	for _, p := range peers {
		if p != cfg.Self {
			d.mu.peers[p] = &PeerStatus{State: Suspect, LastSeen: now}
		}
	}
	return d
}

// Tick sends a heartbeat to every peer and re-evaluates their states at
// time now.
func (d *Detector) Tick(now time.Time) {
	d.mu.Lock()
	payload := d.mu.payload
	ids := make([]keyspace.NodeID, 0, len(d.mu.peers))
	var changes []change
	for id, p := range d.mu.peers {
		ids = append(ids, id)
		silent := now.Sub(p.LastSeen)
		next := p.State
		switch {
		case silent > d.cfg.DeadAfter:
			next = Dead
		case silent > d.cfg.SuspectAfter && p.State == Alive:
			next = Suspect
		}
		if next != p.State {
			changes = append(changes, change{id, p.State, next})
			p.State = next
		}
	}
	d.mu.Unlock()
	for _, id := range ids {
		d.cfg.Send(id, payload)
	}
	d.report(changes)
}

type change struct {
	id       keyspace.NodeID
	from, to State
}

func (d *Detector) report(cs []change) {
	for _, c := range cs {
		switch c.to {
		case Dead:
			d.cfg.Logger.Warn("peer marked dead", "peer", c.id.String(), "was", c.from.String())
		case Alive:
			d.cfg.Logger.Info("peer alive again", "peer", c.id.String(), "was", c.from.String())
		case Suspect:
			d.cfg.Logger.Info("peer suspected", "peer", c.id.String())
		}
		if d.cfg.OnChange != nil {
			d.cfg.OnChange(c.id, c.from, c.to)
		}
	}
}

// Observe records a heartbeat received from a peer at time now.
func (d *Detector) Observe(payload []byte, now time.Time) {
	var hb Heartbeat
	if err := json.Unmarshal(payload, &hb); err != nil || hb.ID == 0 || hb.ID == d.cfg.Self {
		return
	}
	d.mu.Lock()
	p := d.mu.peers[hb.ID]
	if p == nil {
		p = &PeerStatus{State: Suspect}
		d.mu.peers[hb.ID] = p
	}
	var cs []change
	restarted := p.Info.Started != 0 && p.Info.Started != hb.Started
	if p.State != Alive {
		cs = append(cs, change{hb.ID, p.State, Alive})
		p.State = Alive
	}
	p.LastSeen, p.Info = now, hb
	d.mu.Unlock()
	if restarted {
		d.cfg.Logger.Info("peer restarted", "peer", hb.ID.String())
	}
	d.report(cs)
}

// Status returns every peer's status, and this node's own as alive.
func (d *Detector) Status(now time.Time) map[keyspace.NodeID]PeerStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[keyspace.NodeID]PeerStatus, len(d.mu.peers)+1)
	for id, p := range d.mu.peers {
		out[id] = *p
	}
	out[d.cfg.Self] = PeerStatus{State: Alive, LastSeen: now, Info: d.mu.announce}
	return out
}

// SetPeers makes ids (this node aside) the peers to heartbeat and judge:
// new ones start suspect as of now, and ones no longer listed are
// forgotten (removed members).
func (d *Detector) SetPeers(ids []keyspace.NodeID, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	keep := map[keyspace.NodeID]bool{}
	for _, id := range ids {
		if id == d.cfg.Self {
			continue
		}
		keep[id] = true
		if d.mu.peers[id] == nil {
			d.mu.peers[id] = &PeerStatus{State: Suspect, LastSeen: now}
		}
	}
	for id := range d.mu.peers {
		if !keep[id] {
			delete(d.mu.peers, id)
		}
	}
}

// SetEpoch sets the shard map epoch this node announces.
func (d *Detector) SetEpoch(epoch uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.announce.Epoch == epoch {
		return
	}
	d.mu.announce.Epoch = epoch
	d.mu.payload, _ = json.Marshal(d.mu.announce)
}

// State returns a peer's state (Alive for this node; Suspect for an
// unknown one).
func (d *Detector) State(id keyspace.NodeID) State {
	if id == d.cfg.Self {
		return Alive
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if p := d.mu.peers[id]; p != nil {
		return p.State
	}
	return Suspect
}
