//go:build unix

package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The HTML report must render in a real browser, offline. This test drives Debian's
// chromium headless (as root it needs --no-sandbox; the background-networking flags
// keep it from dialling out on a closed network), takes a screenshot and dumps the
// DOM. It is skipped when chromium is not on PATH unless CHATLOAD_REQUIRE_CHROMIUM=1
// (CI sets it). The screenshot goes to $CHATLOAD_ARTIFACTS when set, for CI to keep.
func TestHTMLRendersInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CHATLOAD_REQUIRE_CHROMIUM") == "1" {
			t.Fatalf("chromium is not on PATH and CHATLOAD_REQUIRE_CHROMIUM=1 (Debian: apt-get install -y chromium fonts-liberation): %v", err)
		}
		t.Skip("chromium is not on PATH: skipping the browser rendering check (Debian: apt-get install -y chromium fonts-liberation; CHATLOAD_REQUIRE_CHROMIUM=1 makes this a failure)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	r := renderReport()
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	artifacts := dir
	if a := os.Getenv("CHATLOAD_ARTIFACTS"); a != "" {
		if err := os.MkdirAll(a, 0o755); err != nil {
			t.Fatal(err)
		}
		artifacts = a
		if err := os.WriteFile(filepath.Join(a, "report-chromium.html"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shot := filepath.Join(artifacts, "report-chromium.png")
	_ = os.Remove(shot) // a stale screenshot must not pass for this run's
	url := "file://" + page

	// The window is tall enough for the whole page, charts included, to be in the shot.
	out := chromium(t, bin, "--screenshot="+shot, "--window-size=1280,3400", url)
	img := decodePNG(t, shot, out)
	colours, chartPixels := imageStats(img)
	t.Logf("screenshot %s: %dx%d, %d colours, %d pixels in the charts' series colours",
		shot, img.Bounds().Dx(), img.Bounds().Dy(), colours, chartPixels)
	if colours < 64 {
		t.Errorf("screenshot has %d distinct colours; want a rendered page (at least 64)", colours)
	}
	// The delivery and send lines are drawn in their colours: the SVG rendered, not
	// just parsed.
	if chartPixels < 500 {
		t.Errorf("screenshot has %d pixels of the delivery/send series colours; want the charts drawn (at least 500)", chartPixels)
	}

	dom := chromium(t, bin, "--dump-dom", url)
	want := []string{"<title>" + title(r) + "</title>"}
	for _, id := range chartIDs {
		want = append(want, `id="`+id+`"`)
	}
	for _, w := range want {
		if !strings.Contains(dom, w) {
			t.Errorf("rendered DOM lacks %s", w)
		}
	}
}

// chromium runs headless chromium on args with a fresh profile, within 60 s, and
// returns its standard output. Its whole process group is killed on timeout.
func chromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	profile, err := os.MkdirTemp("", "chatload-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: chromium's helpers may still be writing there when it exits.
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--hide-scrollbars", "--user-data-dir=" + profile}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // helpers holding the pipes must not hang the test
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("chromium %s: no result within 60 s\nstderr:\n%s", strings.Join(args, " "), tail(stderr.String()))
	}
	if err != nil {
		t.Fatalf("chromium %s: %v\nstderr:\n%s", strings.Join(args, " "), err, tail(stderr.String()))
	}
	return stdout.String()
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

func decodePNG(t *testing.T, path, chromiumOut string) image.Image {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v\nchromium said:\n%s", err, tail(chromiumOut))
	}
	defer fh.Close()
	if st, err := fh.Stat(); err != nil || st.Size() == 0 {
		t.Fatalf("screenshot %s is empty (%v)", path, err)
	}
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	return img
}

// imageStats counts img's distinct colours and its pixels close to the delivery or
// send series colour.
func imageStats(img image.Image) (colours, chartPixels int) {
	seen := map[uint32]bool{}
	targets := [][3]int{{0x1f, 0x5f, 0xa8}, {0xd9, 0x5f, 0x02}} // opColor of delivery and send
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y++ {
		for x := bnd.Min.X; x < bnd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			r, g, b = r>>8, g>>8, b>>8
			seen[r<<16|g<<8|b] = true
			for _, c := range targets {
				if abs(int(r)-c[0]) < 24 && abs(int(g)-c[1]) < 24 && abs(int(b)-c[2]) < 24 {
					chartPixels++
				}
			}
		}
	}
	return len(seen), chartPixels
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
