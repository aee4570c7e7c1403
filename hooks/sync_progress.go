package hooks

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
)

// progressBar reports how far a sync got: a bar redrawn in place on a
// terminal, otherwise a plain line every few seconds (logs, CI, pipes).
type progressBar struct {
	w        io.Writer
	terminal bool
	noun     string // what is counted: users by default
	started  time.Time
	lastLine time.Time
}

const progressLineEvery = 5 * time.Second

func newProgressBar(w io.Writer) *progressBar {
	if w == nil {
		w = io.Discard
	}
	f, ok := w.(interface{ Fd() uintptr })
	terminal := ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
	return &progressBar{w: w, terminal: terminal, noun: "users", started: time.Now(), lastLine: time.Now()}
}

func (p *progressBar) update(done, total int) {
	total = max(total, done)
	if p.terminal {
		const width = 30
		filled := width
		if total > 0 {
			filled = width * done / total
		}
		fmt.Fprintf(p.w, "\r[%s%s] %d/%d %s %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total, p.noun, p.rate(done))
		return
	}
	if time.Since(p.lastLine) >= progressLineEvery {
		p.lastLine = time.Now()
		fmt.Fprintf(p.w, "clerk sync: %d/%d %s %s\n", done, total, p.noun, p.rate(done))
	}
}

func (p *progressBar) finish(done int) {
	if p.terminal {
		fmt.Fprintln(p.w)
	}
	fmt.Fprintf(p.w, "clerk sync: listed %d %s in %s %s\n", done, p.noun, time.Since(p.started).Round(time.Millisecond), p.rate(done))
}

func (p *progressBar) rate(done int) string {
	secs := time.Since(p.started).Seconds()
	if secs <= 0 {
		return ""
	}
	return fmt.Sprintf("(%.0f/s)", float64(done)/secs)
}
