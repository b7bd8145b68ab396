package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/distkv/distkv/api"
)

// membershipAPI answers the membership calls: n2 can be removed (and shows
// as removed after two more looks at the cluster), n9 does not exist,
// "default" can change its replicas, and a second reshard conflicts.
func membershipAPI(t *testing.T) string {
	var looks atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("DELETE /v1/admin/members/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "n2" {
			replyErr(w, 404, api.Error{Code: api.CodeUnknown, Message: "no member " + r.PathValue("id")})
			return
		}
		looks.Store(0)
		reply(w, 202, api.MemberChange{Member: api.Member{ID: "n2", State: api.MemberDraining}, Epoch: 9})
	})
	mux.HandleFunc("PATCH /v1/ns/{name}", func(w http.ResponseWriter, r *http.Request) {
		var u api.NamespaceUpdate
		if err := json.NewDecoder(r.Body).Decode(&u); err != nil {
			replyErr(w, 400, api.Error{Code: api.CodeInvalid, Message: err.Error()})
			return
		}
		switch {
		case r.PathValue("name") != "default":
			replyErr(w, 404, api.Error{Code: api.CodeNamespaceNotFound, Message: "no such namespace"})
		case u.Shards != 0:
			replyErr(w, 409, api.Error{Code: api.CodeConflict, Message: "a reshard of default (16 -> 24) is running"})
		case u.Replicas == "9":
			replyErr(w, 400, api.Error{Code: api.CodeInvalid, Message: "9 replicas but 3 nodes"})
		default:
			reply(w, 202, api.NamespaceChange{Namespace: api.Namespace{Name: "default", Replicas: u.Replicas}, Epoch: 10,
				Started: []string{"replicas 3 -> " + string(u.Replicas)}})
		}
	})
	mux.HandleFunc("GET /v1/cluster", func(w http.ResponseWriter, r *http.Request) {
		cl := api.Cluster{Node: "n1", Epoch: 10, Nodes: []api.Node{{ID: "n1", Membership: api.MemberActive}, {ID: "n2", Membership: api.MemberDraining}}}
		if looks.Add(1) > 2 {
			cl.Nodes[1].Membership = api.MemberRemoved
		} else {
			cl.Moves = []api.Move{{ID: 1, Namespace: "default", Shard: 1, From: "n2", To: "n1", Step: "catching up", Progress: 0.25}}
		}
		reply(w, 200, cl)
	})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.HeaderNode, "n1")
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func TestMembershipCommands(t *testing.T) {
	ep := membershipAPI(t)
	cases := []struct {
		args []string
		code int
		out  string // a prefix of stdout
		err  string // a substring of stderr
	}{
		{[]string{"ns", "set", "default", "--replicas", "5"}, 0, `OK namespace "default": replicas 3 -> 5 (epoch 10)`, ""},
		{[]string{"ns", "set", "default", "--replicas", "9"}, ExitError, "", "9 replicas but 3 nodes"},
		{[]string{"ns", "set", "default", "--replicas", "x"}, ExitUsage, "", "--replicas must be a positive number or all"},
		{[]string{"ns", "set", "default"}, ExitUsage, "", "ns set needs --replicas"},
		{[]string{"ns", "set", "logs", "--replicas", "3"}, ExitNotFound, "", `namespace "logs" not found`},
		{[]string{"ns", "reshard", "default", "--shards", "24"}, ExitConflict, "", "a reshard of default (16 -> 24) is running"},
		{[]string{"ns", "reshard", "default"}, ExitUsage, "", "ns reshard needs --shards"},
		{[]string{"node", "remove", "n9"}, ExitNotFound, "", "no member n9"},
		{[]string{"node", "remove", "2"}, 0, "OK n2 is draining (epoch 9)", ""},
		{[]string{"node", "remove", "n2", "--wait", "--wait-timeout", "20s"}, 0, "OK n2 is draining (epoch 9)\nepoch 10: 1 move(s); default/1 n2->n1 catching up  25%\nOK n2 removed (epoch 10)\n", ""},
	}
	for _, tc := range cases {
		r := runCLI(t, ep, "", tc.args...)
		if r.code != tc.code || !strings.HasPrefix(r.out, tc.out) || !strings.Contains(r.err, tc.err) {
			t.Errorf("distkv %s: code %d, stdout %q, stderr %q; want code %d, stdout %q..., stderr containing %q",
				strings.Join(tc.args, " "), r.code, r.out, r.err, tc.code, tc.out, tc.err)
		}
	}
}

func TestWaitSettledFollowsMoves(t *testing.T) {
	ep := membershipAPI(t)
	r := runCLI(t, ep, "", "ns", "set", "default", "--replicas", "2", "--wait", "--wait-timeout", "500ms")
	if r.code != ExitUnavailable || !strings.Contains(r.out, "default/1 n2->n1 catching up  25%") || !strings.Contains(r.err, "the change carries on") {
		t.Errorf("--wait past its timeout: %+v", r)
	}
}
