package clock

import (
	"testing"
	"time"
)

func TestManualTickerFiresOnAdvance(t *testing.T) {
	start := time.Unix(1000, 0)
	m := NewManual(start)
	tk := m.NewTicker(10 * time.Millisecond)
	select {
	case <-tk.C():
		t.Fatal("ticker fired before the clock moved")
	default:
	}
	m.Advance(25 * time.Millisecond)
	got := <-tk.C()
	if want := start.Add(10 * time.Millisecond); !got.Equal(want) {
		t.Fatalf("first tick at %v, want %v (later ticks are dropped while C is full)", got, want)
	}
	if now := m.Now(); !now.Equal(start.Add(25 * time.Millisecond)) {
		t.Fatalf("Now = %v after Advance(25ms)", now)
	}
	m.Advance(5 * time.Millisecond) // reaches the 30ms deadline
	if got := <-tk.C(); !got.Equal(start.Add(30 * time.Millisecond)) {
		t.Fatalf("tick at %v, want 30ms", got)
	}
	tk.Stop()
	m.Advance(time.Second)
	select {
	case <-tk.C():
		t.Fatal("stopped ticker fired")
	default:
	}
}
