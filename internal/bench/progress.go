package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progressWidth is the number of cells of the bar.
const progressWidth = 30

// ProgressBar draws a run's progress on one terminal line, rewritten in
// place with \r. Run calls Update at a bounded rate (4 per second), so
// the terminal is never flooded. It is meant for stderr, and only when
// stderr is a terminal: piped output should not fill with \r lines.
type ProgressBar struct {
	w       io.Writer
	label   string
	lastOps int64
	lastAt  time.Duration
	drawn   int // width of the line last drawn
}

// NewProgressBar returns a bar drawn on w, each line starting with label.
func NewProgressBar(w io.Writer, label string) *ProgressBar {
	return &ProgressBar{w: w, label: label}
}

// Update redraws the bar for p.
func (b *ProgressBar) Update(p Progress) {
	rate := 0.0
	if dt := (p.Elapsed - b.lastAt).Seconds(); dt > 0 {
		rate = float64(p.Ops-b.lastOps) / dt
	}
	b.lastOps, b.lastAt = p.Ops, p.Elapsed
	f := p.Fraction()
	full := int(f * progressWidth)
	phase := ""
	if p.Elapsed < p.Warmup {
		phase = " (warmup)"
	}
	line := fmt.Sprintf("%s [%s%s] %3.0f%%  %s ops  %s ops/s  %s errors%s", b.label,
		strings.Repeat("#", full), strings.Repeat(".", progressWidth-full), f*100,
		fmtCount(p.Ops), fmtRate(rate), fmtCount(p.Errors), phase)
	pad := max(0, b.drawn-len(line))
	fmt.Fprintf(b.w, "\r%s%s", line, strings.Repeat(" ", pad))
	b.drawn = len(line)
}

// Clear erases the bar, leaving the cursor at the start of the line.
func (b *ProgressBar) Clear() {
	if b.drawn > 0 {
		fmt.Fprintf(b.w, "\r%s\r", strings.Repeat(" ", b.drawn))
		b.drawn = 0
	}
}
