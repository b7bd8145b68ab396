package watchhttp

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html"
	"net/http"
	"strings"
)

var (
	//go:embed ui/watch.html
	pageHTML string
	//go:embed ui/watch.css
	pageCSS string
	//go:embed ui/watch.js
	pageJS string
)

// page is GET /ui/watch: one self-contained document (its style and
// script inline, nothing fetched from elsewhere), built once.
type page struct {
	body []byte
	csp  string
}

func newPage(node string) *page {
	r := strings.NewReplacer("/*CSS*/", pageCSS, "/*JS*/", pageJS, "{{NODE}}", html.EscapeString(node))
	return &page{
		body: []byte(r.Replace(pageHTML)),
		// Only this page's own inline style and script may run, and it may
		// talk only to this origin.
		csp: "default-src 'none'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; " +
			"style-src " + hashSource(pageCSS) + "; script-src " + hashSource(pageJS),
	}
}

func hashSource(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(p.body)
}
