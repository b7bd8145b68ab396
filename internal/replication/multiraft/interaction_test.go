package multiraft

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/distkv/distkv/internal/storage"
	"github.com/distkv/distkv/internal/transport"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The interaction tests drive hosts in manual mode through datadriven
// transcripts (testdata/*.txt), printing what each cycle persisted, sent
// and applied, so the loop's behaviour can be read step by step.

type env struct {
	t     *testing.T
	nodes map[uint64]*tnode
	out   *strings.Builder
	nextP int
}

type tnode struct {
	id     uint64
	fs     *storage.MemFS
	engine *storage.Engine
	host   *Host
	tr     *captureTransport
	sms    map[uint64]*recordingSM
	voters map[uint64][]uint64
	props  []*tprop
	reads  []*tread
}

type tprop struct {
	name string
	p    *proposal
}

type tread struct {
	group uint64
	key   string
	rq    *readReq
}

// captureTransport keeps sent messages until the test delivers them.
type captureTransport struct {
	id     uint64
	mu     sync.Mutex
	outbox []transport.Message
	onSend func(m transport.Message) // reports a send as it happens
}

func (c *captureTransport) ID() uint64 { return c.id }
func (c *captureTransport) Send(m transport.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m.From = c.id
	c.outbox = append(c.outbox, m)
	if c.onSend != nil {
		c.onSend(m)
	}
}
func (c *captureTransport) Call(context.Context, uint64, []byte) ([]byte, error) {
	return nil, transport.ErrUnreachable
}
func (c *captureTransport) SendSnapshot(context.Context, uint64, []byte, io.Reader) error {
	return transport.ErrUnreachable
}
func (c *captureTransport) Stats() transport.Stats { return transport.Stats{} }
func (c *captureTransport) Close() error           { return nil }

func (c *captureTransport) take() []transport.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.outbox
	c.outbox = nil
	return out
}

// recordingSM is a tiny register store that reports what it applies.
type recordingSM struct {
	group   uint64
	applied []string
}

func (s *recordingSM) Apply(b *storage.Batch, index uint64, cmd []byte) any {
	k, v, _ := strings.Cut(string(cmd), "=")
	if err := b.Set(storage.DataKey(s.group, []byte(k)), []byte(v)); err != nil {
		panic(err)
	}
	s.applied = append(s.applied, fmt.Sprintf("%d:%s", index, cmd))
	return "ok@" + strconv.FormatUint(index, 10)
}
func (s *recordingSM) Committed()      {}
func (s *recordingSM) Restored(uint64) {}

func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		e := &env{t: t, nodes: map[uint64]*tnode{}}
		defer e.closeAll()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			e.out = &strings.Builder{}
			e.run(d)
			return e.out.String()
		})
	})
}

func (e *env) printf(format string, args ...any) { fmt.Fprintf(e.out, format, args...) }

func argU(d *datadriven.TestData, key string) uint64 {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			v, err := strconv.ParseUint(a.Vals[0], 10, 64)
			if err != nil {
				panic(err)
			}
			return v
		}
	}
	return 0
}

func argS(d *datadriven.TestData, key string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return a.Vals[0]
		}
	}
	return ""
}

func argList(d *datadriven.TestData, key string) []uint64 {
	var out []uint64
	for _, a := range d.CmdArgs {
		if a.Key == key {
			for _, v := range a.Vals {
				for _, f := range strings.Split(v, ",") {
					n, err := strconv.ParseUint(f, 10, 64)
					if err != nil {
						panic(err)
					}
					out = append(out, n)
				}
			}
		}
	}
	return out
}

func (e *env) run(d *datadriven.TestData) {
	switch d.Cmd {
	case "start":
		groups := argList(d, "groups")
		for _, id := range argList(d, "ids") {
			n := &tnode{id: id, fs: storage.NewCrashableMemFS(), sms: map[uint64]*recordingSM{}, voters: map[uint64][]uint64{}}
			for _, g := range groups {
				n.voters[g] = argList(d, "ids")
			}
			e.nodes[id] = n
			e.open(n)
		}
		e.printf("started %d nodes\n", len(e.nodes))
	case "campaign":
		n := e.nodes[argU(d, "id")]
		r := n.host.groups[argU(d, "group")]
		if err := r.rn.Campaign(); err != nil {
			e.printf("error: %v\n", err)
		}
		e.printf("n%d campaigns in group %d\n", n.id, argU(d, "group"))
	case "propose":
		n := e.nodes[argU(d, "id")]
		e.nextP++
		p := &proposal{id: n.host.nextProposal.Add(1), ch: make(chan result, 1)}
		p.data = encodeProposal(n.id, p.id, []byte(argS(d, "cmd")))
		_ = n.host.enqueue(event{kind: evPropose, group: argU(d, "group"), prop: p})
		name := fmt.Sprintf("p%d", e.nextP)
		n.props = append(n.props, &tprop{name: name, p: p})
		e.printf("%s queued on n%d\n", name, n.id)
	case "read":
		n := e.nodes[argU(d, "id")]
		rq := &readReq{ch: make(chan error, 1)}
		_ = n.host.enqueue(event{kind: evRead, group: argU(d, "group"), read: rq})
		n.reads = append(n.reads, &tread{group: argU(d, "group"), key: argS(d, "key"), rq: rq})
		e.printf("read of %s queued on n%d\n", argS(d, "key"), n.id)
	case "cycle":
		n := e.nodes[argU(d, "id")]
		e.cycle(n, d.HasArg("tick"))
	case "deliver":
		e.deliver(argU(d, "from"), argU(d, "to"), d.HasArg("drop"))
	case "stabilize":
		e.stabilize()
	case "crash":
		n := e.nodes[argU(d, "id")]
		clone := n.fs.CrashClone(storage.CrashCloneCfg{})
		n.host.Close()
		_ = n.engine.Close()
		n.fs, n.props, n.reads = clone, nil, nil
		n.host = nil
		e.printf("n%d crashed; its disk keeps what was synced\n", n.id)
	case "restart":
		n := e.nodes[argU(d, "id")]
		e.open(n)
		for g := range n.voters {
			st := n.host.groups[g].status()
			e.printf("n%d restarted: group %d term=%d commit=%d applied=%d last=%d\n", n.id, g, st.Term, st.Commit, st.Applied, st.LastIndex)
		}
	case "status":
		for _, id := range e.ids() {
			n := e.nodes[id]
			if n.host == nil {
				e.printf("n%d: down\n", id)
				continue
			}
			for _, g := range sortedKeys(n.voters) {
				st := n.host.groups[g].status()
				e.printf("n%d g%d: leader=%d term=%d commit=%d applied=%d log=[%d,%d]\n",
					id, g, st.Leader, st.Term, st.Commit, st.Applied, st.FirstIndex, st.LastIndex)
			}
		}
	default:
		e.t.Fatalf("unknown command %q", d.Cmd)
	}
}

func (e *env) open(n *tnode) {
	var err error
	n.engine, err = storage.Open(storage.Config{FS: n.fs, Dir: "d"})
	if err != nil {
		e.t.Fatal(err)
	}
	n.tr = &captureTransport{id: n.id, onSend: func(m transport.Message) { e.printf("  sent %s\n", describe(m)) }}
	n.host, err = New(Config{
		NodeID: n.id, Engine: n.engine, Transport: n.tr, Manual: true, ElectionTicks: 10,
		Events: Events{
			LeaderChanged: func(g, l, term uint64) { e.printf("  n%d g%d: leader is now %d (term %d)\n", n.id, g, l, term) },
			Synced:        func(_ time.Duration, groups int) { e.printf("  n%d: synced %d group(s) in one batch\n", n.id, groups) },
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, g := range sortedKeys(n.voters) {
		sm := &recordingSM{group: g}
		n.sms[g] = sm
		if err := n.host.createGroup(GroupConfig{ID: g, Voters: n.voters[g], NewStateMachine: func() StateMachine { return sm }}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	ks := make([]uint64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}

func (e *env) ids() []uint64 { return sortedKeys(e.nodes) }

// cycle runs one loop turn on n and prints what came of it.
func (e *env) cycle(n *tnode, tick bool) bool {
	if n.host == nil {
		return false
	}
	before := len(n.tr.outbox)
	applied := map[uint64]int{}
	for g, sm := range n.sms {
		applied[g] = len(sm.applied)
	}
	outer := e.out
	e.out = &strings.Builder{}
	defer func() {
		if e.out.Len() > 0 {
			fmt.Fprintf(outer, "n%d cycle:\n%s", n.id, e.out.String())
		}
		e.out = outer
	}()
	n.host.Cycle(tick)
	progress := false
	for _, g := range sortedKeys(n.sms) {
		for _, a := range n.sms[g].applied[applied[g]:] {
			e.printf("  applied g%d %s\n", g, a)
			progress = true
		}
	}
	n.tr.mu.Lock()
	if len(n.tr.outbox) > before {
		progress = true
	}
	n.tr.mu.Unlock()
	e.reportWaiters(n)
	return progress
}

func (e *env) reportWaiters(n *tnode) {
	keep := n.props[:0]
	for _, tp := range n.props {
		select {
		case res := <-tp.p.ch:
			if res.err != nil {
				e.printf("  %s -> error: %v\n", tp.name, res.err)
			} else {
				e.printf("  %s -> %v\n", tp.name, res.val)
			}
		default:
			keep = append(keep, tp)
		}
	}
	n.props = keep
	keepR := n.reads[:0]
	for _, tr := range n.reads {
		select {
		case err := <-tr.rq.ch:
			if err != nil {
				e.printf("  read %s -> error: %v\n", tr.key, err)
				continue
			}
			v, ok, _ := n.engine.Get(storage.DataKey(tr.group, []byte(tr.key)))
			if !ok {
				e.printf("  read %s -> not found\n", tr.key)
			} else {
				e.printf("  read %s -> %s\n", tr.key, v)
			}
		default:
			keepR = append(keepR, tr)
		}
	}
	n.reads = keepR
}

// deliver moves queued messages (optionally only from/to one node) to
// their destinations, or drops them.
func (e *env) deliver(from, to uint64, drop bool) int {
	count := 0
	for _, id := range e.ids() {
		n := e.nodes[id]
		if from != 0 && id != from {
			continue
		}
		if n.host == nil {
			continue
		}
		msgs := n.tr.take()
		for _, m := range msgs {
			if to != 0 && m.To != to {
				n.tr.mu.Lock()
				n.tr.outbox = append(n.tr.outbox, m)
				n.tr.mu.Unlock()
				continue
			}
			dst := e.nodes[m.To]
			switch {
			case drop:
				e.printf("dropped %s\n", describe(m))
			case dst == nil || dst.host == nil:
				e.printf("lost %s (n%d is down)\n", describe(m), m.To)
			default:
				e.printf("delivered %s\n", describe(m))
				dst.host.HandleMessage(m)
			}
			count++
		}
	}
	return count
}

// stabilize cycles every node and delivers every message until nothing
// moves.
func (e *env) stabilize() {
	for round := 0; round < 50; round++ {
		progress := false
		for _, id := range e.ids() {
			n := e.nodes[id]
			if n.host == nil {
				continue
			}
			n.host.mu.Lock()
			pending := len(n.host.mu.queue) > 0
			n.host.mu.Unlock()
			if pending || n.hasReady() {
				if e.cycle(n, false) {
					progress = true
				}
			}
		}
		if e.deliver(0, 0, false) > 0 {
			progress = true
		}
		if !progress {
			return
		}
	}
	e.printf("did not stabilize\n")
}

func (n *tnode) hasReady() bool {
	for _, r := range n.host.groups {
		if r.rn.HasReady() {
			return true
		}
	}
	return false
}

func (e *env) closeAll() {
	for _, n := range e.nodes {
		if n.host != nil {
			n.host.Close()
			_ = n.engine.Close()
		}
	}
}

// describe renders a transport message carrying a Raft message compactly.
func describe(m transport.Message) string {
	group, k := binary.Uvarint(m.Payload)
	msg := &pb.Message{}
	if err := proto.Unmarshal(m.Payload[k:], msg); err != nil {
		return "undecodable"
	}
	typ := strings.TrimPrefix(msg.GetType().String(), "Msg")
	s := fmt.Sprintf("g%d %d->%d %s term=%d", group, msg.GetFrom(), msg.GetTo(), typ, msg.GetTerm())
	switch msg.GetType() {
	case pb.MessageType_MsgApp:
		s += fmt.Sprintf(" prev=%d/%d commit=%d", msg.GetLogTerm(), msg.GetIndex(), msg.GetCommit())
		var ents []string
		for _, ent := range msg.GetEntries() {
			ents = append(ents, describeEntry(ent))
		}
		s += " entries=[" + strings.Join(ents, " ") + "]"
	case pb.MessageType_MsgAppResp:
		s += fmt.Sprintf(" index=%d", msg.GetIndex())
		if msg.GetReject() {
			s += " rejected"
		}
	case pb.MessageType_MsgVote, pb.MessageType_MsgPreVote:
		s += fmt.Sprintf(" last=%d/%d", msg.GetLogTerm(), msg.GetIndex())
	case pb.MessageType_MsgVoteResp, pb.MessageType_MsgPreVoteResp:
		if msg.GetReject() {
			s += " rejected"
		}
	case pb.MessageType_MsgHeartbeat:
		s += fmt.Sprintf(" commit=%d", msg.GetCommit())
	}
	return s
}

func describeEntry(ent *pb.Entry) string {
	if len(ent.GetData()) == 0 {
		return fmt.Sprintf("%d/%d:empty", ent.GetTerm(), ent.GetIndex())
	}
	_, _, cmd, err := decodeProposal(ent.GetData())
	if err != nil {
		return fmt.Sprintf("%d/%d:?", ent.GetTerm(), ent.GetIndex())
	}
	return fmt.Sprintf("%d/%d:%s", ent.GetTerm(), ent.GetIndex(), cmd)
}
