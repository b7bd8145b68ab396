package watchhttp_test

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/watch"
)

var sseHeader = http.Header{"Accept": {"text/event-stream"}}

func TestWatchErrors(t *testing.T) {
	f := newFixture(t, watch.Config{History: 1}, nil)
	f.publish(put("k", 1, "a"), put("k", 2, "b"), put("k", 3, "c")) // 1 and 2 evicted

	for _, tc := range []struct {
		name, query string
		header      http.Header
		status      int
		code        string
		message     string // a fragment of the message
	}{
		{"plain GET", "prefix=a", nil, 400, api.CodeInvalid, "WebSocket"},
		{"bad from", "prefix=a&from=x", sseHeader, 400, api.CodeInvalid, "from must be"},
		{"negative from", "key=k&from=-1", sseHeader, 400, api.CodeInvalid, "from must be"},
		{"bad Last-Event-ID", "key=k", http.Header{"Accept": {"text/event-stream"}, "Last-Event-Id": {"x"}}, 400, api.CodeInvalid, "from must be"},
		{"bad values", "values=maybe", sseHeader, 400, api.CodeInvalid, "values must be"},
		{"bad sse", "sse=maybe", nil, 400, api.CodeInvalid, "sse must be"},
		{"unknown namespace", "ns=nope", sseHeader, 404, api.CodeNamespaceNotFound, `"nope"`},
		{"from too old", "key=k&from=1", sseHeader, 410, api.CodeInvalid, "no longer retained"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, e := getError(t, f.srv.URL+"/v1/watch?"+tc.query, tc.header)
			if status != tc.status || e.Code != tc.code || !strings.Contains(e.Message, tc.message) {
				t.Fatalf("got %d %s: %s; want %d %s containing %q", status, e.Code, e.Message, tc.status, tc.code, tc.message)
			}
		})
	}
	// From inside the history is fine, and replays.
	s := f.dialSSE(t, "key=k&from=2", nil)
	if ev, _ := s.next(t); ev.String() != "put/k@3" {
		t.Fatalf("got %v", ev)
	}

	f.hub.Close()
	if status, e := getError(t, f.srv.URL+"/v1/watch?sse=1", nil); status != 503 || e.Code != api.CodeUnavailable {
		t.Fatalf("after hub close: %d %+v", status, e)
	}
}

func TestPage(t *testing.T) {
	f := newFixture(t, watch.Config{}, nil)
	res, err := http.Get(f.srv.URL + "/ui/watch")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	page := string(body)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /ui/watch: %s %s", res.Status, res.Header.Get("Content-Type"))
	}
	for _, id := range []string{"events", "put-key", "put-value", "put-button", "del-button", "prefix", "ns", "status"} {
		if !strings.Contains(page, `id="`+id+`"`) {
			t.Errorf("page has no element #%s", id)
		}
	}
	for _, want := range []string{"<form", "/v1/watch", "/v1/ns/", "dataset.key", "dataset.op", "dataset.version", "node <b>n1</b>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page does not contain %q", want)
		}
	}
	if strings.Contains(page, "/*JS*/") || strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("page is not self-contained")
	}
	// The inline script and style must be the ones the CSP allows, or a
	// browser would refuse to run them.
	csp := res.Header.Get("Content-Security-Policy")
	for _, tag := range []string{"script", "style"} {
		m := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no <%s> in the page", tag)
		}
		sum := sha256.Sum256([]byte(m[1]))
		if hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, tag+"-src "+hash) {
			t.Errorf("CSP %q does not allow the inline %s (%s)", csp, tag, hash)
		}
	}
}
