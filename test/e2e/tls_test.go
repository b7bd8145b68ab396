package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distkv/distkv/client"
	"github.com/distkv/distkv/internal/certs"
	"github.com/redis/go-redis/v9"
)

// A `distkv up --tls` cluster serves clients over TLS on every door it
// opens (HTTP with the multiplexed client, Redis, the CLI) and links its
// nodes with mutual TLS: clients without the CA, plain-text clients, an
// expired client certificate and a peer whose certificate another CA
// signed are all refused, the last one logged.
func TestUpTLS(t *testing.T) {
	c := startCluster(t, 3, "--tls")
	cd := filepath.Join(c.dir, "certs")
	ca := filepath.Join(cd, certs.CACert)
	cert, key := certs.ClientFiles(cd, "root")
	eventually(t, 5*time.Second, "up prints https endpoints", func() (bool, string) {
		return strings.Contains(c.log.String(), "https://"+c.addr(1)), c.log.String()
	})

	// The CLI, with etcdctl's flags; the writes cross nodes over peer TLS.
	tlsFlags := []string{"--cacert", ca, "--cert", cert, "--key", key}
	c.mustCLI(append(tlsFlags, "put", "greeting", "hello")...)
	if got := c.mustCLI(append(tlsFlags, "--endpoints", c.addr(3), "get", "greeting")...); strings.TrimSpace(got) != "hello" {
		t.Fatalf("get over TLS from n3: %q", got)
	}
	if _, _, code := c.cli("get", "greeting"); code == 0 {
		t.Fatal("the CLI without --cacert read from a TLS cluster")
	}

	// The watch feed over TLS: a watcher started by the CLI sees a put.
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	watch := exec.CommandContext(wctx, bin, append(tlsFlags, "--endpoints", c.addr(2), "watch", "--exact", "watched")...)
	wout := &lockedBuffer{}
	watch.Stdout, watch.Stderr = wout, wout
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the TLS watch feed shows a put", func() (bool, string) {
		c.mustCLI(append(tlsFlags, "put", "watched", "x")...)
		return strings.Contains(wout.String(), "watched"), wout.String()
	})
	wcancel()
	_ = watch.Wait()

	// The Go client, multiplexed, over TLS.
	tc, err := client.TLSFromFiles(ca, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := client.New(client.Config{Endpoints: strings.Split(c.endpoints(), ","), Multiplex: true, TLS: tc, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 20 {
		if _, err := gc.Put(ctx, fmt.Sprintf("k%d", i), []byte("v")); err != nil {
			t.Fatalf("multiplexed put over TLS: %v", err)
		}
	}
	if kv, err := gc.Get(ctx, "greeting"); err != nil || string(kv.Value) != "hello" {
		t.Fatalf("multiplexed get over TLS: %v %v", kv, err)
	}

	// Plain HTTP to the TLS port: refused with a 400, nothing served.
	resp, err := http.Get("http://" + c.addr(1) + "/v1/kv/greeting")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(b), "hello") {
		t.Fatalf("plain HTTP to a TLS listener: %d %q", resp.StatusCode, b)
	}
	// HTTPS without the CA: the node's certificate is not trusted.
	if _, err := http.Get("https://" + c.addr(1) + "/v1/kv/greeting"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("HTTPS without the cluster's CA: %v, want a certificate error", err)
	}
	// An expired client certificate the CA signed: refused at the handshake.
	if _, _, err := certs.Client(cd, "expired", time.Now().Add(-48*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	ec, ek := certs.ClientFiles(cd, "expired")
	etc, err := client.TLSFromFiles(ca, ec, ek)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: etc}, Timeout: 5 * time.Second}
	if resp, err := hc.Get("https://" + c.addr(2) + "/v1/kv/greeting"); err == nil {
		resp.Body.Close()
		t.Fatalf("an expired client certificate was served: %d", resp.StatusCode)
	}

	// Redis over TLS; plain RESP to the TLS port gets nothing.
	rc := redis.NewClient(&redis.Options{Addr: c.redisAddr(2), Protocol: 2, TLSConfig: tc.Clone()})
	defer rc.Close()
	if v, err := rc.Get(ctx, "greeting").Result(); err != nil || v != "hello" {
		t.Fatalf("redis GET over TLS: %q %v", v, err)
	}
	plain := redis.NewClient(&redis.Options{Addr: c.redisAddr(2), Protocol: 2, MaxRetries: -1, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
	defer plain.Close()
	if v, err := plain.Get(ctx, "greeting").Result(); err == nil {
		t.Fatalf("plain RESP to the TLS listener answered %q", v)
	}

	// A peer with another CA's certificate: refused, and logged.
	other := t.TempDir()
	if err := certs.InitCA(other, time.Hour); err != nil {
		t.Fatal(err)
	}
	rcert, rkey, err := certs.Node(other, "rogue", []string{"127.0.0.1"}, time.Time{}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := client.TLSFromFiles(ca, rcert, rkey) // trusts the cluster, is not trusted by it
	if err != nil {
		t.Fatal(err)
	}
	rogue.ServerName = "127.0.0.1"
	peerAddr := fmt.Sprintf("127.0.0.1:%d", c.basePort+100+1)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", peerAddr, rogue)
	if err == nil {
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		_, err = conn.Read(make([]byte, 1)) // TLS 1.3: the refusal arrives here
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a rogue peer's handshake: %v, want a certificate refusal", err)
	}
	eventually(t, 10*time.Second, "n1 logs the refused peer", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(c.dir, "n1", "node.log"))
		return strings.Contains(string(b), "refused a peer's TLS handshake"), tail(string(b), 5)
	})
}
