package report

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// hlogLine is one interval line as a minimal reader of the format sees it.
type hlogLine struct {
	tag           string
	start, length float64 // seconds after BaseTime
	maxMS         float64
	hist          *hdrhistogram.Histogram
}

// readHlog is a minimal reader of the HdrHistogram interval log format: comments
// (#...), with StartTime and BaseTime, the legend, and [Tag=T,]start,length,max,payload.
func readHlog(t *testing.T, r io.Reader) (start, base float64, lines []hlogLine) {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	num := func(s string) float64 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return f
	}
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "#[StartTime: "):
			start = num(strings.Fields(l)[1])
		case strings.HasPrefix(l, "#[BaseTime: "):
			base = num(strings.Fields(l)[1])
		case strings.HasPrefix(l, "#"), strings.HasPrefix(l, `"StartTimestamp"`):
		default:
			var hl hlogLine
			if strings.HasPrefix(l, "Tag=") {
				tag, rest, _ := strings.Cut(l, ",")
				hl.tag, l = strings.TrimPrefix(tag, "Tag="), rest
			}
			f := strings.Split(l, ",")
			if len(f) != 4 {
				t.Fatalf("line %q: %d fields; want 4", l, len(f))
			}
			hl.start, hl.length, hl.maxMS = num(f[0]), num(f[1]), num(f[2])
			h, err := hdrhistogram.Decode([]byte(f[3]))
			if err != nil {
				t.Fatalf("payload of %q: %v", l, err)
			}
			hl.hist = h
			lines = append(lines, hl)
		}
	}
	return start, base, lines
}

func TestHlogHeader(t *testing.T) {
	var b bytes.Buffer
	start := time.Date(2026, 1, 1, 0, 0, 0, 123_000_000, time.UTC)
	if _, err := NewHlogWriter(&b, start, "run-7"); err != nil {
		t.Fatal(err)
	}
	want := "#[Histogram log format version 1.3]\n" +
		"#[StartTime: 1767225600.123 (seconds since epoch), 2026-01-01T00:00:00.123Z]\n" +
		"#[BaseTime: 1767225600.123 (seconds since epoch)]\n" +
		"#[chatload run run-7: tags are operations; values in ns; Interval_Max in ms]\n" +
		`"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"` + "\n"
	if b.String() != want {
		t.Errorf("header:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestHlogRoundTrip(t *testing.T) {
	ivs, _, _ := cpIntervals(3)
	// An interval where send only failed: no line for it.
	r := NewRecorder()
	r.Record(OpSend, 0, 0, Errorf(Timeout, "send", 0, "timeout"))
	r.Record(OpDelivery, 7*time.Millisecond, 0, nil)
	ivs = append(ivs, Interval{Start: cpStart.Add(30 * time.Second), End: cpStart.Add(34500 * time.Millisecond), Operations: r.Operations()})
	var b countingSyncer
	hw, err := NewHlogWriter(&b, cpStart, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, iv := range ivs {
		if err := hw.Interval(iv); err != nil {
			t.Fatal(err)
		}
	}
	if b.writes != 5 || b.syncs != 5 {
		t.Errorf("%d writes, %d syncs; want one each for the header and each interval", b.writes, b.syncs)
	}
	start, base, lines := readHlog(t, bytes.NewReader(b.Bytes()))
	if want := float64(cpStart.UnixMilli()) / 1e3; start != want || base != want {
		t.Errorf("StartTime %v, BaseTime %v; want %v", start, base, want)
	}
	// Intervals 0..2: register (interval 0 only), send, delivery; interval 3: delivery.
	var tags []string
	for _, l := range lines {
		tags = append(tags, l.tag)
	}
	if got := strings.Join(tags, " "); got != "register send delivery send delivery send delivery delivery" {
		t.Fatalf("tags %q; want the ops with samples, in table order", got)
	}
	k := 0
	for i, iv := range ivs {
		for _, op := range []string{"register", "send", "delivery"} {
			o, ok := iv.Operations[op]
			if !ok || o.Count == o.Errors {
				continue
			}
			l := lines[k]
			k++
			if l.start != float64(10*i) || l.length != iv.End.Sub(iv.Start).Seconds() {
				t.Errorf("interval %d %s: at %v for %v; want %v for %v", i, op, l.start, l.length, 10*i, iv.End.Sub(iv.Start).Seconds())
			}
			want, err := DecodeHistogram(o.Histogram)
			if err != nil {
				t.Fatal(err)
			}
			if !l.hist.Equals(want) {
				t.Errorf("interval %d %s: the histogram differs from the report's", i, op)
			}
			if wantMax := float64(want.Max()) / HlogMaxRatio; l.maxMS < wantMax-0.0005 || l.maxMS > wantMax+0.0005 {
				t.Errorf("interval %d %s: Interval_Max %v; want %v ms", i, op, l.maxMS, wantMax)
			}
		}
	}
}

// TestHlogReadByHdrHistogramGo reads the log with hdrhistogram-go's own log reader.
func TestHlogReadByHdrHistogramGo(t *testing.T) {
	ivs, _, _ := cpIntervals(2)
	var b bytes.Buffer
	hw, _ := NewHlogWriter(&b, cpStart, "run-1")
	for _, iv := range ivs {
		if err := hw.Interval(iv); err != nil {
			t.Fatal(err)
		}
	}
	lr := hdrhistogram.NewHistogramLogReader(&b)
	n := 0
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		if h.TotalCount() == 0 || h.StartTimeMs() < cpStart.UnixMilli() {
			t.Errorf("histogram %d: %d values from %d ms; want values, at or after the run's start", n, h.TotalCount(), h.StartTimeMs())
		}
		n++
	}
	if n != 5 {
		t.Errorf("%d histograms read; want 5 (register, then send and delivery twice)", n)
	}
}

// TestHlogHistogramLogProcessor runs HdrHistogram's own Java HistogramLogProcessor on
// the log when it is installed (Debian: libhdrhistogram-java), else skips.
func TestHlogHistogramLogProcessor(t *testing.T) {
	jar := "/usr/share/java/hdrhistogram.jar"
	java, err := exec.LookPath("java")
	if _, serr := os.Stat(jar); err != nil || serr != nil {
		t.Skip("needs java and " + jar + " (apt-get install libhdrhistogram-java)")
	}
	ivs, _, _ := cpIntervals(3)
	dir := t.TempDir()
	path := filepath.Join(dir, "run.hlog")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	hw, _ := NewHlogWriter(f, cpStart, "run-1")
	for _, iv := range ivs {
		if err := hw.Interval(iv); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	cmd := exec.Command(java, "-cp", jar, "org.HdrHistogram.HistogramLogProcessor", "-i", path, "-o", filepath.Join(dir, "out"), "-tag", "delivery", "-csv")
	if out, err := cmd.CombinedOutput(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("HistogramLogProcessor: %v\n%s", err, out)
		}
		t.Skipf("cannot run java: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	// One CSV row per delivery interval after comments and the legend: counts 100,
	// 200, 300, timestamps 10, 20, 30 (interval ends, relative to StartTime).
	var rows []string
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" && l[0] >= '0' && l[0] <= '9' {
			rows = append(rows, l)
		}
	}
	if len(rows) != 3 {
		t.Fatalf("interval output:\n%s\nwant 3 rows", data)
	}
	for i, row := range rows {
		if !strings.HasPrefix(row, strconv.Itoa(10*(i+1))+".000,") {
			t.Errorf("row %d: %q; want timestamp %d.000", i, row, 10*(i+1))
		}
		f := strings.Split(row, ",")
		// "Timestamp","Int_Count","Int_50%",...: Int_Count is the second column.
		if len(f) < 2 || f[1] != strconv.Itoa(100*(i+1)) {
			t.Errorf("row %d: %q; want Int_Count %d", i, row, 100*(i+1))
		}
	}
	sum, err := os.ReadFile(filepath.Join(dir, "out.hgrm"))
	// The percentile distribution (CSV) of all three: its last row is the 100th
	// percentile with the total count, 600.
	if err != nil || !bytes.Contains(sum, []byte(",1.000000000000,600,Infinity")) {
		t.Errorf("percentile distribution: %v\n%s\nwant a total count of 600", err, sum)
	}
}
