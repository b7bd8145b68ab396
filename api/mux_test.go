package api

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

func TestMuxFramesRoundTrip(t *testing.T) {
	reqs := []*MuxRequest{
		{ID: 1, Method: "PUT", Target: "/v1/kv/a%20b?if=absent", Header: []MuxHeader{{"X-Distkv-Causal", "t1,t2"}}, Body: []byte("value")},
		{ID: 1 << 40, Method: "GET", Target: "/v1/kv/k"},
		{ID: 3, Method: "DELETE", Target: "/v1/ns/x/kv/" + string(make([]byte, 300)), Body: bytes.Repeat([]byte{0, 0xff}, 5000)},
	}
	resps := []*MuxResponse{
		{ID: 1, Status: 201, Header: []MuxHeader{{"Content-Type", "application/json"}, {"X-Distkv-Node", "n2"}}, Body: []byte(`{"version":7}`)},
		{ID: 1 << 40, Status: 404},
	}
	var stream []byte
	for _, r := range reqs {
		stream = AppendMuxRequest(stream, r)
	}
	for _, r := range resps {
		stream = AppendMuxResponse(stream, r)
	}
	br := bufio.NewReader(bytes.NewReader(stream))
	next := func() (uint64, []byte) {
		t.Helper()
		id, n, err := ReadMuxFrameHeader(br)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ReadMuxPayload(br, n)
		if err != nil {
			t.Fatal(err)
		}
		return id, p
	}
	for _, want := range reqs {
		got, err := ParseMuxRequest(next())
		if err != nil {
			t.Fatalf("%v: %v", want, err)
		}
		if len(got.Body) == 0 {
			got.Body = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("request: got %+v, want %+v", got, want)
		}
	}
	for _, want := range resps {
		got, err := ParseMuxResponse(next())
		if err != nil {
			t.Fatalf("%+v: %v", want, err)
		}
		if len(got.Body) == 0 {
			got.Body = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("response: got %+v, want %+v", got, want)
		}
	}
	if _, _, err := ReadMuxFrameHeader(br); err != io.EOF {
		t.Errorf("after the last frame: %v, want EOF", err)
	}
}

// TestMuxFramesTruncated: every prefix of a frame is an error (never a
// panic), and a cut inside a frame is not a clean EOF.
func TestMuxFramesTruncated(t *testing.T) {
	full := AppendMuxRequest(nil, &MuxRequest{ID: 300, Method: "PUT", Target: "/v1/kv/k",
		Header: []MuxHeader{{"A", "b"}}, Body: []byte("body")})
	for i := 1; i < len(full); i++ {
		br := bufio.NewReader(bytes.NewReader(full[:i]))
		id, n, err := ReadMuxFrameHeader(br)
		if err == nil {
			_, err = ReadMuxPayload(br, n)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("prefix of %d bytes (id %d): %v, want unexpected EOF", i, id, err)
		}
	}
	// Payloads cut short or padded with garbage inside the strings.
	payload := full[3:] // after the 2-byte ID and the 1-byte length
	for i := range len(payload) - len("body") {
		if _, err := ParseMuxRequest(1, payload[:i]); err == nil {
			t.Errorf("request payload cut at %d parsed", i)
		}
	}
	if _, err := ParseMuxResponse(1, []byte{0x05}); !errors.Is(err, ErrMuxFrame) {
		t.Errorf("status 5: %v, want ErrMuxFrame", err)
	}
	if _, err := ParseMuxResponse(1, []byte{0xc8, 0x01, 0x7f}); !errors.Is(err, ErrMuxFrame) {
		t.Errorf("127 headers: %v, want ErrMuxFrame", err)
	}
}

// FuzzMuxParse: arbitrary payloads decode or fail, never panic, and what
// decodes survives encoding and decoding again unchanged.
func FuzzMuxParse(f *testing.F) {
	f.Add(AppendMuxRequest(nil, &MuxRequest{ID: 0, Method: "GET", Target: "/x", Header: []MuxHeader{{"K", "v"}}})[2:])
	f.Add(AppendMuxResponse(nil, &MuxResponse{ID: 0, Status: 200, Body: []byte("ok")})[2:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		if r, err := ParseMuxRequest(0, p); err == nil {
			br := bufio.NewReader(bytes.NewReader(AppendMuxRequest(nil, r)))
			id, n, err := ReadMuxFrameHeader(br)
			if err != nil {
				t.Fatal(err)
			}
			again, err := ReadMuxPayload(br, n)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := ParseMuxRequest(id, again)
			if err != nil || r2.Method != r.Method || r2.Target != r.Target ||
				!reflect.DeepEqual(r2.Header, r.Header) || !bytes.Equal(r2.Body, r.Body) {
				t.Errorf("request %+v re-decodes as %+v (%v)", r, r2, err)
			}
		}
		if r, err := ParseMuxResponse(0, p); err == nil && (r.Status < 100 || r.Status > 999) {
			t.Errorf("status %d accepted", r.Status)
		}
	})
}
