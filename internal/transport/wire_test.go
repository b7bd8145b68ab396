package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestFramesRoundTrip(t *testing.T) {
	msgs := []Message{
		{Type: 1, Payload: []byte("a")},
		{Type: 2},
		{Type: 3, Payload: bytes.Repeat([]byte{7}, 300)},
		{Type: 4, Payload: bytes.Repeat([]byte{8}, 5000)}, // too large for maxFrame below
		{Type: 5, Payload: []byte("z")},
	}
	const maxFrame = 1024
	buf, frames, dropped := appendFrames(nil, msgs, maxFrame)
	if dropped != 1 || frames != 1 {
		t.Fatalf("frames %d dropped %d", frames, dropped)
	}
	got := readAllFrames(t, buf, maxFrame)
	want := slices.Delete(slices.Clone(msgs), 3, 4)
	if len(got) != len(want) {
		t.Fatalf("got %d messages", len(got))
	}
	for i := range want {
		if got[i].Type != want[i].Type || !bytes.Equal(got[i].Payload, want[i].Payload) {
			t.Fatalf("message %d: %+v", i, got[i])
		}
	}
	// A batch larger than one frame splits, keeping order.
	var many []Message
	for i := range 100 {
		many = append(many, Message{Type: uint8(i), Payload: make([]byte, 50)})
	}
	buf, frames, _ = appendFrames(nil, many, maxFrame)
	if frames < 5 {
		t.Fatalf("100x50 bytes in %d frames of 1 KiB", frames)
	}
	for i, m := range readAllFrames(t, buf, maxFrame) {
		if m.Type != uint8(i) {
			t.Fatalf("split frames reordered: %d at %d", m.Type, i)
		}
	}
}

func readAllFrames(t *testing.T, buf []byte, maxFrame int) []Message {
	br := bufio.NewReader(bytes.NewReader(buf))
	var out []Message
	for {
		body, err := readBlock(br, maxFrame)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := decodeFrame(body, func(m Message) { out = append(out, m) }); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDecodeGarbageNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(testSeed(t)), 1))
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		decodeFrame(b, func(m Message) {
			if cap(m.Payload) != len(m.Payload) {
				t.Fatal("payload capacity not clipped")
			}
		})
		decodeCallRequest(b)
		decodeCallReply(b)
		readHello(bytes.NewReader(b))
		readBlock(bufio.NewReader(bytes.NewReader(b)), 16)
		io.Copy(io.Discard, &chunkReader{r: bufio.NewReader(bytes.NewReader(b)), max: 16})
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte{1, 2, 'h', 'i'})
	f.Add([]byte{250, 3, 1, 0, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeFrame(b, func(m Message) {
			if m.Type == typeCallRequest {
				decodeCallRequest(m.Payload)
			}
			if m.Type == typeCallReply {
				decodeCallReply(m.Payload)
			}
		})
	})
}

func TestCallEnvelopes(t *testing.T) {
	id, timeout, req, err := decodeCallRequest(encodeCallRequest(42, 1500*time.Microsecond, []byte("req")))
	if err != nil || id != 42 || timeout != 2*time.Millisecond || string(req) != "req" {
		t.Fatalf("request: %d %v %q %v", id, timeout, req, err)
	}
	id, r, err := decodeCallReply(encodeCallReply(7, []byte("ok"), nil))
	if err != nil || id != 7 || string(r.body) != "ok" || r.err != nil {
		t.Fatalf("reply: %d %+v %v", id, r, err)
	}
	_, r, _ = decodeCallReply(encodeCallReply(7, []byte("ignored"), errors.New("boom")))
	var re *RemoteError
	if !errors.As(r.err, &re) || re.Msg != "boom" {
		t.Fatalf("error reply: %+v", r)
	}
}

func TestChunkReader(t *testing.T) {
	var buf []byte
	buf = appendBlock(buf, []byte("hello "))
	buf = appendBlock(buf, []byte("world"))
	buf = appendBlock(buf, nil)
	buf = append(buf, "trailing"...)
	br := bufio.NewReader(bytes.NewReader(buf))
	got, err := io.ReadAll(&chunkReader{r: br, max: 16})
	if err != nil || string(got) != "hello world" {
		t.Fatalf("%q %v", got, err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "trailing" {
		t.Fatalf("reader overran the terminator: %q", rest)
	}
	_, err = io.ReadAll(&chunkReader{r: bufio.NewReader(bytes.NewReader(buf[:8])), max: 16})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated stream: %v", err)
	}
}

func TestSendQueue(t *testing.T) {
	base := time.Unix(0, 0)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	q := sendQueue{limit: 5}
	push := func(typ uint8, due int, held bool) bool {
		return q.push(entry{m: Message{Type: typ}, due: at(due), held: held, heldUntil: at(due + 20)})
	}
	types := func(ms []Message) (out []uint8) {
		for _, m := range ms {
			out = append(out, m.Type)
		}
		return out
	}
	push(1, 0, false)
	push(2, 30, false) // delayed
	push(3, 10, false) // jitter: overtakes 2
	push(4, 10, true)  // held: the next one overtakes it
	push(5, 12, false)
	if push(6, 0, false) {
		t.Fatal("push beyond limit")
	}
	got, next := q.pop(at(5), nil)
	if !slices.Equal(types(got), []uint8{1}) || !next.Equal(at(10)) {
		t.Fatalf("pop@5 = %v next %v", types(got), next)
	}
	got, _ = q.pop(at(12), nil)
	if !slices.Equal(types(got), []uint8{3, 5, 4}) {
		t.Fatalf("pop@12 = %v", types(got))
	}
	got, next = q.pop(at(29), nil)
	if len(got) != 0 || !next.Equal(at(30)) {
		t.Fatalf("pop@29 = %v next %v", types(got), next)
	}
	push(7, 31, true) // held with nobody behind: released at heldUntil
	got, next = q.pop(at(40), nil)
	if !slices.Equal(types(got), []uint8{2}) || !next.Equal(at(51)) {
		t.Fatalf("pop@40 = %v next %v", types(got), next)
	}
	if got, _ = q.pop(at(51), nil); !slices.Equal(types(got), []uint8{7}) || q.len() != 0 {
		t.Fatalf("pop@51 = %v", types(got))
	}
}
