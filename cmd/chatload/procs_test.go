package main

import (
	"runtime"
	"strings"
	"testing"
)

func TestProcsNext(t *testing.T) {
	for _, c := range []struct {
		cur, maxP  int
		util       float64
		below      int
		want, left int
	}{
		{1, 2, 0.50, 0, 1, 0}, // light: stays at one P
		{1, 2, 0.71, 0, 2, 0}, // busy: up at once
		{1, 8, 0.90, 0, 2, 0}, // doubling
		{4, 8, 3.00, 0, 8, 0},
		{4, 6, 3.00, 0, 6, 0}, // capped
		{2, 2, 1.90, 0, 2, 0}, // at the ceiling
		{2, 2, 0.50, 0, 2, 1}, // low: counted, not yet
		{2, 2, 0.50, 2, 2, 3},
		{2, 2, 0.50, 3, 1, 0}, // the 4th low sample in a row gives one back
		{2, 2, 0.65, 3, 2, 0}, // between the bounds: the count restarts
		{1, 1, 5.00, 0, 1, 0}, // nothing to add
		{1, 2, 0.00, 5, 1, 0}, // never below one
	} {
		got, left := procsNext(c.cur, c.maxP, c.util, c.below)
		if got != c.want || left != c.left {
			t.Errorf("procsNext(%d, %d, %.2f, %d) = %d, %d; want %d, %d", c.cur, c.maxP, c.util, c.below, got, left, c.want, c.left)
		}
	}
}

func TestStartProcs(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	noEnv := func(string) string { return "" }

	c := startProcs(1, noEnv)
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("--procs 1: GOMAXPROCS %d", n)
	}
	// A second run in the process leaves it to the first.
	if other := startProcs(3, noEnv); other.stopProcs() != "" || runtime.GOMAXPROCS(0) != 1 {
		t.Errorf("a second controller changed GOMAXPROCS to %d", runtime.GOMAXPROCS(0))
	}
	if note := c.stopProcs(); note != "GOMAXPROCS 1 (--procs)" || runtime.GOMAXPROCS(0) != orig {
		t.Errorf("note %q, GOMAXPROCS %d after; want the note and %d restored", note, runtime.GOMAXPROCS(0), orig)
	}

	c = startProcs(0, noEnv)
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("auto starts with GOMAXPROCS %d; want 1", n)
	}
	if note := c.stopProcs(); !strings.HasPrefix(note, "GOMAXPROCS 1") || !strings.Contains(note, "auto") || runtime.GOMAXPROCS(0) != orig {
		t.Errorf("auto note %q, GOMAXPROCS %d after", note, runtime.GOMAXPROCS(0))
	}

	// GOMAXPROCS set in the environment is the user's choice: auto keeps it.
	c = startProcs(0, func(k string) string { return map[string]string{"GOMAXPROCS": "2"}[k] })
	if note := c.stopProcs(); note != "" || runtime.GOMAXPROCS(0) != orig {
		t.Errorf("with GOMAXPROCS in the environment: note %q, GOMAXPROCS %d", note, runtime.GOMAXPROCS(0))
	}
}
