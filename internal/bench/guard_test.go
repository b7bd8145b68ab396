package bench

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// fakeResolver answers from a table; hosts not in it do not resolve.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	names, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, n := range names {
		out = append(out, netip.MustParseAddr(n))
	}
	return out, nil
}

func TestCheckLoopback(t *testing.T) {
	r := fakeResolver{
		"localhost": {"127.0.0.1", "::1"},
		"db.lan":    {"10.1.2.3"},
		"mixed":     {"127.0.0.1", "192.168.1.9"},
		"mapped":    {"::ffff:127.0.0.1"},
	}
	cases := []struct {
		eps   []string
		allow bool
		want  string // "" for success, else a substring of the error
	}{
		{[]string{"127.0.0.1:7701", "127.9.9.9:1", "[::1]:2379"}, false, ""},
		{[]string{"localhost:6379", "http://localhost:7701/", "mapped:1"}, false, ""},
		{[]string{"127.0.0.1:7701", "10.0.0.5:7701"}, false, `"10.0.0.5:7701": 10.0.0.5 is not a loopback address`},
		{[]string{"db.lan:2379"}, false, "db.lan (resolved to 10.1.2.3)"},
		{[]string{"mixed:1"}, false, "192.168.1.9"},
		{[]string{"http://[2001:db8::1]:80"}, false, "--allow-remote"},
		{[]string{"nowhere:1"}, false, "cannot resolve"},
		{[]string{"7701"}, false, "bad endpoint"},
		{[]string{"10.0.0.5:7701", "db.lan:1", "nowhere:1"}, true, ""},
	}
	for _, c := range cases {
		err := CheckLoopback(context.Background(), r, c.eps, c.allow)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v (allow %v): %v", c.eps, c.allow, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v (allow %v): error %v, want one containing %q", c.eps, c.allow, err, c.want)
		}
	}
}
