package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// isTerminal reports whether w is a terminal (a character device), where a
// progress bar redraws one line; elsewhere (a pipe, a file, CI logs) progress
// is plain lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// bar shows the progress of one task on w: on a terminal, one line redrawn in
// place; otherwise a line each time the task gets 10% further, and at most
// one every 5 seconds in between.
type bar struct {
	w        io.Writer
	tty      bool
	label    string
	lastStep int
	lastLine time.Time
	drawn    bool
	now      func() time.Time
}

const barWidth = 30

func newBar(w io.Writer, label string) *bar {
	return &bar{w: w, tty: isTerminal(w), label: label, lastStep: -1, now: time.Now}
}

// set shows percent done (0-100) and detail (rate, time left, chunks).
func (b *bar) set(percent float64, detail string) {
	percent = min(max(percent, 0), 100)
	if b.tty {
		filled := int(percent / 100 * barWidth)
		fmt.Fprintf(b.w, "\r\033[K%s [%s%s] %5.1f%% %s", b.label, strings.Repeat("=", filled),
			strings.Repeat(" ", barWidth-filled), percent, detail)
		b.drawn = true
		return
	}
	step := int(percent / 10)
	if step == b.lastStep && b.now().Sub(b.lastLine) < 5*time.Second {
		return
	}
	b.lastStep, b.lastLine = step, b.now()
	fmt.Fprintf(b.w, "%s: %5.1f%% %s\n", b.label, percent, detail)
}

// done ends the bar's line on a terminal.
func (b *bar) done() {
	if b.tty && b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}
