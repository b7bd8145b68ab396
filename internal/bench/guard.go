package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckLoopback fails unless every endpoint is on this machine's loopback
// (127.0.0.0/8 or ::1), or allowRemote is set. A host name passes only if
// every address it resolves to is a loopback address. A benchmark is a
// load test: pointed at a machine by mistake it is indistinguishable from
// an attack, so going beyond loopback takes an explicit flag.
func CheckLoopback(ctx context.Context, r Resolver, endpoints []string, allowRemote bool) error {
	if allowRemote {
		return nil
	}
	for _, ep := range endpoints {
		host, err := endpointHost(ep)
		if err != nil {
			return err
		}
		addrs, err := resolve(ctx, r, host)
		if err != nil {
			return fmt.Errorf("endpoint %q: cannot resolve %q to check that it is on loopback: %v", ep, host, err)
		}
		for _, a := range addrs {
			if !a.Unmap().IsLoopback() {
				return fmt.Errorf("refusing to load endpoint %q: %s is not a loopback address (127.0.0.0/8 or ::1); "+
					"a benchmark floods its target, so only this machine is a target by default; "+
					"pass --allow-remote if you run that machine and mean to load it", ep, describeAddr(host, a))
			}
		}
	}
	return nil
}

// endpointHost extracts the host of "host:port", "[v6]:port" or
// "scheme://host:port/...".
func endpointHost(ep string) (string, error) {
	ep = strings.TrimSpace(ep)
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil || u.Hostname() == "" {
			return "", fmt.Errorf("bad endpoint %q: want host:port", ep)
		}
		return u.Hostname(), nil
	}
	host, _, err := net.SplitHostPort(ep)
	if err != nil || host == "" {
		return "", fmt.Errorf("bad endpoint %q: want host:port", ep)
	}
	return host, nil
}

// resolve returns host's addresses: itself when it is a literal address.
func resolve(ctx context.Context, r Resolver, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err == nil && len(addrs) == 0 {
		err = fmt.Errorf("no addresses")
	}
	return addrs, err
}

func describeAddr(host string, a netip.Addr) string {
	if host == a.String() {
		return host
	}
	return fmt.Sprintf("%s (resolved to %s)", host, a)
}
