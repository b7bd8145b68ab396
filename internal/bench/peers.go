package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// peerReadyTimeout bounds the wait for a peer to answer after it starts.
const peerReadyTimeout = 60 * time.Second

// Deployment is a store running for a comparison: how to drive it and how
// to stop it.
type Deployment struct {
	// Desc says what runs, for the report: "etcd 3.4.23, 3 members".
	Desc      string
	Target    string
	Endpoints []string
	Namespace string
	stop      func() error
	pids      []int // the processes serving it
}

// Stop stops everything the deployment started.
func (d *Deployment) Stop() error {
	if d.stop == nil {
		return nil
	}
	return d.stop()
}

// StartEtcd starts an etcd cluster of members processes of bin on free
// loopback ports, with data under dir, and waits until it takes a write.
// Each member's output goes to dir/mN.log.
func StartEtcd(ctx context.Context, bin, dir string, members int) (*Deployment, error) {
	ports, err := FreePorts(2 * members)
	if err != nil {
		return nil, err
	}
	url := func(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }
	var initial []string
	for i := range members {
		initial = append(initial, fmt.Sprintf("m%d=%s", i+1, url(ports[members+i])))
	}
	token := fmt.Sprintf("distkv-bench-%d-%d", os.Getpid(), time.Now().UnixNano())
	d := &Deployment{Target: TargetEtcd, Desc: fmt.Sprintf("%s, %d member(s)", toolVersion(bin, "--version"), members)}
	var procs []*Proc
	d.stop = func() error { return stopAll(procs, PeerStopGrace) }
	for i := range members {
		name := fmt.Sprintf("m%d", i+1)
		client, peer := url(ports[i]), url(ports[members+i])
		p, err := StartProc("etcd "+name, filepath.Join(dir, name+".log"), []string{bin,
			"--name", name, "--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-token", token,
			"--initial-cluster-state", "new",
		})
		if err != nil {
			d.Stop()
			return nil, err
		}
		procs = append(procs, p)
		d.pids = append(d.pids, p.Pid())
		d.Endpoints = append(d.Endpoints, strings.TrimPrefix(client, "http://"))
	}
	if err := waitReady(ctx, procs, func(ctx context.Context) error { return etcdPing(ctx, d.Endpoints) }); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

// etcdPing writes one key through every member.
func etcdPing(ctx context.Context, eps []string) error {
	for _, ep := range eps {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return err
		}
		_, err = c.Put(ctx, "distkv-bench-ready", "1")
		c.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// Redis persistence modes of a comparison.
const (
	RedisNoPersistence = "none"   // --save "" --appendonly no
	RedisAOFAlways     = "always" // --appendonly yes --appendfsync always
)

// StartRedis starts redis-server (bin) on a free loopback port, with its
// files in dir and persistence as given, and waits until it answers PING.
// Its output goes to dir/redis.log.
func StartRedis(ctx context.Context, bin, dir, persistence string) (*Deployment, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	argv := []string{bin, "--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1", "--dir", dir,
		"--daemonize", "no", "--protected-mode", "yes", "--logfile", "", "--save", ""}
	desc := "no persistence"
	switch persistence {
	case RedisNoPersistence:
		argv = append(argv, "--appendonly", "no")
	case RedisAOFAlways:
		argv = append(argv, "--appendonly", "yes", "--appendfsync", "always")
		desc = "AOF, appendfsync always"
	default:
		return nil, fmt.Errorf("unknown redis persistence %q", persistence)
	}
	p, err := StartProc("redis-server", filepath.Join(dir, "redis.log"), argv)
	if err != nil {
		return nil, err
	}
	d := &Deployment{Target: TargetRedis, Endpoints: []string{addr},
		Desc: fmt.Sprintf("%s, %s", redisVersion(bin), desc),
		stop: func() error { return p.Stop(PeerStopGrace) }, pids: []int{p.Pid()}}
	ping := func(ctx context.Context) error {
		c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, DisableIdentity: true})
		defer c.Close()
		return c.Ping(ctx).Err()
	}
	if err := waitReady(ctx, []*Proc{p}, ping); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

// waitReady calls ping every 250 ms until it succeeds, a process exits,
// ctx ends or peerReadyTimeout passes.
func waitReady(ctx context.Context, procs []*Proc, ping func(context.Context) error) error {
	deadline := time.Now().Add(peerReadyTimeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		for _, p := range procs {
			select {
			case <-p.Exited():
				return fmt.Errorf("%s exited while starting (%v); its log is %s", p.Name, p.ExitErr(), p.Log)
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %v; logs in %s", peerReadyTimeout, err, filepath.Dir(procs[0].Log))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// redisVersion is "Redis server v=7.0.15", without the build details.
func redisVersion(bin string) string {
	v := toolVersion(bin, "--version")
	if i := strings.Index(v, " sha="); i > 0 {
		v = v[:i]
	}
	return v
}

// toolVersion is the first line of `bin flag`, or bin's name.
func toolVersion(bin, flag string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, flag).Output()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err != nil || line == "" {
		return filepath.Base(bin)
	}
	return line
}
