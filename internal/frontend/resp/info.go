package resp

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/distkv/distkv/api"
)

// infoSections are INFO's sections in the order printed.
var infoSections = []string{"server", "clients", "cluster", "keyspace"}

// cmdInfo answers INFO [section ...]. Without a section, or with "all",
// "default" or "everything", it prints every section; an unknown section
// prints nothing, as in Redis. The text is a verbatim string in RESP3.
func (c *conn) cmdInfo(ctx context.Context, args [][]byte) {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := len(want) == 0 || want["all"] || want["default"] || want["everything"]
	var st *api.Cluster
	var stErr error
	if all || want["cluster"] || want["keyspace"] {
		s, err := c.srv.cfg.Node.Status(ctx)
		st, stErr = &s, err
	}
	var b strings.Builder
	for _, sec := range infoSections {
		if !all && !want[sec] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		switch sec {
		case "server":
			c.infoServer(&b)
		case "clients":
			c.infoClients(&b)
		case "cluster":
			infoCluster(&b, st, stErr)
		case "keyspace":
			c.infoKeyspace(&b, st, stErr)
		}
	}
	c.w.verbatim(b.String())
}

func field(b *strings.Builder, name string, v any) { fmt.Fprintf(b, "%s:%v\r\n", name, v) }

func (c *conn) infoServer(b *strings.Builder) {
	up := time.Since(c.srv.started)
	port := 0
	if a, ok := c.srv.Addr().(*net.TCPAddr); ok {
		port = a.Port
	}
	b.WriteString("# Server\r\n")
	field(b, "redis_version", redisVersion)
	field(b, "redis_mode", "standalone")
	field(b, "distkv_version", c.srv.cfg.Version)
	field(b, "distkv_node", c.srv.cfg.Node.NodeID())
	field(b, "tcp_port", port)
	field(b, "uptime_in_seconds", int64(up.Seconds()))
	field(b, "uptime_in_days", int64(up.Hours()/24))
}

func (c *conn) infoClients(b *strings.Builder) {
	b.WriteString("# Clients\r\n")
	field(b, "connected_clients", c.srv.connCount())
	field(b, "maxclients", c.srv.cfg.MaxConns)
}

// infoCluster describes the distkv cluster. cluster_enabled is 0 because
// distkv does not speak the Redis Cluster protocol: it routes every key
// itself, so clients must not try to.
func infoCluster(b *strings.Builder, st *api.Cluster, stErr error) {
	b.WriteString("# Cluster\r\n")
	field(b, "cluster_enabled", 0)
	if stErr != nil {
		field(b, "distkv_status_error", oneLine(stErr.Error()))
		return
	}
	alive, led := 0, 0
	for _, n := range st.Nodes {
		if n.State == api.StateAlive {
			alive++
		}
	}
	for _, sh := range st.Shards {
		if sh.Leader != "" {
			led++
		}
	}
	names := make([]string, 0, len(st.Namespaces))
	for _, ns := range st.Namespaces {
		names = append(names, ns.Name)
	}
	slices.Sort(names)
	field(b, "distkv_node", st.Node)
	field(b, "distkv_coordinator", st.Coordinator)
	field(b, "distkv_epoch", st.Epoch)
	field(b, "distkv_nodes", len(st.Nodes))
	field(b, "distkv_nodes_alive", alive)
	field(b, "distkv_namespaces", strings.Join(names, ","))
	field(b, "distkv_shards", len(st.Shards))
	field(b, "distkv_shards_with_leader", led)
	for i, n := range st.Nodes {
		field(b, fmt.Sprintf("distkv_node%d", i), fmt.Sprintf("id=%s,state=%s,redis_addr=%s,client_addr=%s",
			n.ID, n.State, n.RedisAddr, n.ClientAddr))
	}
}

// infoKeyspace reports the connection's namespace as db0, counting the
// keys its shards report; unknown_shards counts those that reported none.
func (c *conn) infoKeyspace(b *strings.Builder, st *api.Cluster, stErr error) {
	b.WriteString("# Keyspace\r\n")
	if stErr != nil {
		return
	}
	ns := displayNS(c.ns)
	keys, unknown := keyCount(st, ns)
	line := fmt.Sprintf("keys=%d,expires=0,avg_ttl=0,namespace=%s", keys, ns)
	if unknown > 0 {
		line += fmt.Sprintf(",unknown_shards=%d", unknown)
	}
	field(b, "db0", line)
}

// keyCount adds up the key counts of namespace ns's shards in st, and
// counts the shards whose count is unknown.
func keyCount(st *api.Cluster, ns string) (keys int64, unknown int) {
	for _, sh := range st.Shards {
		switch {
		case sh.Namespace != ns:
		case sh.Keys < 0:
			unknown++
		default:
			keys += sh.Keys
		}
	}
	return keys, unknown
}
