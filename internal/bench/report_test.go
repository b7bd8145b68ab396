package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleResult is a hand-made result with every field set.
func sampleResult() *Result {
	o, _ := Options{Target: TargetEtcd, Endpoints: []string{"127.0.0.1:2379"}, Workload: "a", Duration: Duration(3 * time.Second),
		Warmup: Duration(time.Second), Rate: 500, Namespace: "users <&>"}.Validate()
	lat := LatencySummary{Count: 700, MinMicros: 80, MeanMicros: 900, P50Micros: 850, P90Micros: 1200, P99Micros: 4100, P999Micros: 9000, MaxMicros: 12000}
	return &Result{
		Schema: Schema, Options: o, Mode: ModeFixedRate, Started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		ElapsedSeconds: 3.01, Ops: 1400, OpsPerSec: 465.1, Misses: 12,
		Errors:       map[string]int64{KindTimeout: 2, KindUnavailable: 0, KindOutcomeUnknown: 1, KindOther: 0},
		ErrorSamples: map[string]string{KindTimeout: "context deadline exceeded", KindOutcomeUnknown: "put <k>: lost"},
		Latency:      map[string]LatencySummary{"all": lat, "read": lat, "write": lat},
		Series: []SeriesPoint{
			{Second: 1, Ops: 500, OpsPerSec: 500, P50Micros: 800, P99Micros: 4000, MaxMicros: 5000},
			{Second: 2, Ops: 450, Errors: 3, OpsPerSec: 450, P50Micros: 900, P99Micros: 4200, MaxMicros: 12000},
			{Second: 3, Ops: 450, OpsPerSec: 450, P50Micros: 850, P99Micros: 4100, MaxMicros: 6000},
		},
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := sampleResult()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, &back) {
		t.Fatalf("round trip changed the result:\n%+v\n%+v", r, &back)
	}
	// The documented field names are the schema: check a few.
	var raw map[string]any
	json.Unmarshal(buf.Bytes(), &raw)
	for _, k := range []string{"schema", "config", "mode", "ops_per_sec", "errors", "latency", "series"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if d := raw["config"].(map[string]any)["duration"]; d != "3s" {
		t.Errorf("config.duration = %v, want \"3s\"", d)
	}
	p99 := raw["latency"].(map[string]any)["all"].(map[string]any)["p99_us"]
	if p99 != 4100.0 {
		t.Errorf("latency.all.p99_us = %v", p99)
	}
}

// svgStats parses an HTML report as XML and counts its charts.
type svgStats struct {
	svgs, polylines, minPoints int
	text                       string
}

func parseReport(t *testing.T, doc []byte) svgStats {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	st := svgStats{minPoints: 1 << 30}
	var text strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the report is not well-formed: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "svg":
				st.svgs++
			case "polyline":
				st.polylines++
				for _, a := range el.Attr {
					if a.Name.Local == "points" {
						st.minPoints = min(st.minPoints, len(strings.Fields(a.Value)))
					}
				}
			case "script", "link", "img":
				t.Errorf("the report has a <%s>: it must be self-contained", el.Name.Local)
			}
		case xml.CharData:
			text.Write(el)
		}
	}
	st.text = text.String()
	return st
}

func TestHTMLReportHasCharts(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, sampleResult()); err != nil {
		t.Fatal(err)
	}
	st := parseReport(t, buf.Bytes())
	// Latency: p50 and p99 lines; throughput: one line.
	if st.svgs != 2 || st.polylines != 3 || st.minPoints != 3 {
		t.Fatalf("%d svgs, %d polylines, at least %d points each; want 2, 3, 3", st.svgs, st.polylines, st.minPoints)
	}
	for _, want := range []string{"Latency over time", "Throughput over time", "users <&>", "outcome_unknown 1", "put <k>: lost", "4.10ms"} {
		if !strings.Contains(st.text, want) {
			t.Errorf("report text lacks %q", want)
		}
	}
	if strings.Contains(buf.String(), "http://") && !strings.Contains(buf.String(), `xmlns="http://www.w3.org/2000/svg"`) {
		t.Error("the report refers to a remote resource")
	}
}

func TestHTMLReportOfAnEmptyRun(t *testing.T) {
	o, _ := Options{Endpoints: []string{"127.0.0.1:1"}, Duration: Duration(time.Second)}.Validate()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, &Result{Options: o, Errors: map[string]int64{}}); err != nil {
		t.Fatal(err)
	}
	if st := parseReport(t, buf.Bytes()); st.svgs != 2 {
		t.Fatalf("%d svgs", st.svgs)
	}
}

func TestTextTable(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, sampleResult()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"p99.9", "read", "write", "all", "850µs", "12.0ms", "timeout 2", "reads of missing keys: 12",
		"fixed rate 500 ops/s", "first outcome_unknown: put <k>: lost"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestFormatting(t *testing.T) {
	cases := map[string]string{
		fmtCount(1234567): "1,234,567", fmtCount(999): "999", fmtCount(-1000): "-1,000",
		fmtLatency(85): "85.0µs", fmtLatency(1250): "1.25ms", fmtLatency(2.5e6): "2.50s",
		fmtRate(12.34): "12.3", fmtRate(12345.6): "12,346", fmtRatio(0): "–", fmtRatio(1.234): "1.23×",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	for v, want := range map[float64]float64{0: 1, 0.3: 0.5, 7: 10, 11: 20, 240: 250, 1000: 1000} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", v, got, want)
		}
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	b := NewProgressBar(&buf, "etcd w")
	b.Update(Progress{Elapsed: time.Second, Warmup: 2 * time.Second, Duration: 8 * time.Second, Ops: 1000})
	b.Update(Progress{Elapsed: 5 * time.Second, Warmup: 2 * time.Second, Duration: 8 * time.Second, Ops: 5000, Errors: 3})
	b.Clear()
	out := buf.String()
	if strings.Count(out, "\r") != 4 || strings.Contains(out, "\n") {
		t.Errorf("the bar must redraw one line with \\r: %q", out)
	}
	for _, want := range []string{"(warmup)", " 50%", "1,000 ops/s", "3 errors", "##############"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar lacks %q: %q", want, out)
		}
	}
}
