// Command scaleload drives many SIP users over a few shared UDP sockets against
// chatload serve (or any imc server) to measure the server at scale: it registers
// users with digest auth, joins each to a room, re-registers them all at once (a
// refresh wave), and optionally fans posts out of one big room, tracking every
// delivery exactly. It prints figures as "key value" lines for bench/scale/run.sh.
//
// It is a benchmark tool, not part of chatload: users here are compact records
// (an index, a nonce, a counter) served by one state goroutine, so one process can
// hold 100,000 of them within the file limit.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/icholy/digest"
)

type opts struct {
	target    string
	domain    string
	users     int
	first     int // first user number (user0001 is 1)
	rooms     int // users join room (i % rooms)+1; 0: no joins
	sockets   int
	window    int
	expires   int
	refresh   bool
	posts     int           // fan-out: posts by the first user to its room
	gap       time.Duration // between posts
	timeout   time.Duration
	serverPid int
	embed     string // "USERS,ROOMS": run chatload's server in this process
	heapProf  string // with embed: write a heap profile here after setup
}

// user is a compact per-user record; the state goroutine owns it.
type user struct {
	nonce   string
	nc      int
	cseq    uint32
	step    uint8 // what is in flight: stepReg, stepJoin
	tries   uint8
	sent    time.Time
	pending bool
}

const (
	stepReg = iota + 1
	stepJoin
	stepPost
)

type event struct {
	idx    int
	cseq   uint32
	status int
	nonce  string
	callID string
}

type loader struct {
	o      opts
	conns  []*net.UDPConn
	raddr  *net.UDPAddr
	us     []user
	events chan event

	retrans    atomic.Int64
	failed     atomic.Int64
	why        map[string]int // failures of the current phase by cause (state goroutine only)
	challenges atomic.Int64
	// fan-out tracking: one bit per (post, member), set once.
	members  int
	got      []atomic.Uint32 // per post: deliveries
	seen     []atomic.Uint64 // bitmap posts*members
	dups     atomic.Int64
	stray    atomic.Int64
	notices  atomic.Int64
	postSent []atomic.Int64 // unix ns a post was sent
	lastAt   []atomic.Int64 // unix ns of the last delivery of a post
	mu       sync.Mutex
	hist     *hdrhistogram.Histogram // every delivery's latency, µs
}

func main() {
	var o opts
	flag.StringVar(&o.target, "target", "127.0.0.1:5060", "server UDP address")
	flag.StringVar(&o.domain, "domain", "example.test", "users' domain")
	flag.IntVar(&o.users, "users", 1000, "users to sign in")
	flag.IntVar(&o.first, "first", 1, "first user number")
	flag.IntVar(&o.rooms, "rooms", 0, "join user i to room (i mod rooms)+1; 0: no joins")
	flag.IntVar(&o.sockets, "sockets", 8, "shared UDP sockets")
	flag.IntVar(&o.window, "window", 2000, "requests in flight at most")
	flag.IntVar(&o.expires, "expires", 3600, "registration lifetime asked for, s")
	flag.BoolVar(&o.refresh, "refresh", true, "after setup, re-register every user at once (a refresh wave)")
	flag.IntVar(&o.posts, "posts", 0, "fan-out: posts by the first user to room001 (all users should be in it: --rooms 1)")
	flag.DurationVar(&o.gap, "gap", 200*time.Millisecond, "fan-out: time between posts")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.IntVar(&o.serverPid, "server-pid", 0, "print this process's RSS after each phase")
	flag.StringVar(&o.embed, "embed", "", "run the embedded server in this process with `USERS,ROOMS` (for heap profiles)")
	flag.StringVar(&o.heapProf, "heap-profile", "", "with -embed: write a heap profile to `FILE` after setup")
	flag.Parse()
	if o.embed != "" {
		stop, err := embed(&o)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scaleload:", err)
			os.Exit(1)
		}
		defer stop()
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "scaleload:", err)
		os.Exit(1)
	}
}

func run(o opts) error {
	ra, err := net.ResolveUDPAddr("udp", o.target)
	if err != nil {
		return err
	}
	l := &loader{o: o, raddr: ra, us: make([]user, o.users), events: make(chan event, 65536)}
	for range o.sockets {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ra.IP})
		if err != nil {
			return err
		}
		_ = c.SetReadBuffer(8 << 20)
		_ = c.SetWriteBuffer(8 << 20)
		l.conns = append(l.conns, c)
		go l.read(c)
	}
	if o.posts > 0 {
		l.members = o.users
		l.got = make([]atomic.Uint32, o.posts)
		l.seen = make([]atomic.Uint64, (o.posts*o.users+63)/64)
		l.postSent = make([]atomic.Int64, o.posts)
		l.lastAt = make([]atomic.Int64, o.posts)
		l.hist = hdrhistogram.New(1, 60_000_000, 3)
	}
	deadline := time.Now().Add(o.timeout)
	rss("server_rss_kib_before", o.serverPid)

	t0 := time.Now()
	if err := l.phase("register", stepReg, deadline); err != nil {
		return err
	}
	d := time.Since(t0)
	fmt.Printf("register_users %d\nregister_s %.2f\nregister_rate_per_s %.0f\n", o.users, d.Seconds(), float64(o.users)/d.Seconds())
	if o.rooms > 0 {
		t0 = time.Now()
		if err := l.phase("join", stepJoin, deadline); err != nil {
			return err
		}
		d = time.Since(t0)
		fmt.Printf("join_s %.2f\njoin_rate_per_s %.0f\n", d.Seconds(), float64(o.users)/d.Seconds())
	}
	settle(o.serverPid)
	rss("server_rss_kib_registered", o.serverPid)
	heapFigures(o, "registered")
	if o.refresh {
		r0 := l.retrans.Load()
		c0 := l.challenges.Load()
		cpu0 := cpuTicks(o.serverPid)
		t0 = time.Now()
		if err := l.phase("refresh", stepReg, deadline); err != nil {
			return err
		}
		d = time.Since(t0)
		fmt.Printf("refresh_wave_users %d\nrefresh_wave_s %.2f\nrefresh_wave_rate_per_s %.0f\nrefresh_retransmissions %d\nrefresh_challenges %d\n",
			o.users, d.Seconds(), float64(o.users)/d.Seconds(), l.retrans.Load()-r0, l.challenges.Load()-c0)
		if o.serverPid > 0 {
			fmt.Printf("refresh_server_cpu_s %.2f\n", float64(cpuTicks(o.serverPid)-cpu0)/100)
		}
		rss("server_rss_kib_refresh", o.serverPid)
		heapFigures(o, "refresh")
	}
	if o.posts > 0 {
		if err := l.fanout(deadline); err != nil {
			return err
		}
	}
	fmt.Printf("failed_requests %d\n", l.failed.Load())
	return nil
}

// settle waits (bounded) for the server's lingering transactions (Timer J, 32 s) to go.
func settle(pid int) {
	if pid > 0 {
		time.Sleep(35 * time.Second)
	}
}

func rss(key string, pid int) {
	if pid <= 0 {
		return
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(ln, "VmRSS:") {
			f := strings.Fields(ln)
			fmt.Printf("%s %s\n", key, f[1])
		}
	}
}

func cpuTicks(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

// phase runs one request per user (step), at most window in flight, retransmitting
// on timeouts (T1 doubling from 500 ms, 7 tries) and answering challenges.
func (l *loader) phase(name string, step uint8, deadline time.Time) error {
	l.why = map[string]int{}
	defer func() {
		for k, n := range l.why {
			fmt.Printf("%s_failed_%s %d\n", name, k, n)
		}
	}()
	next, done, inflight := 0, 0, 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for done < len(l.us) {
		for inflight < l.o.window && next < len(l.us) {
			u := &l.us[next]
			u.step, u.tries, u.pending = step, 0, true
			l.send(next)
			next++
			inflight++
		}
		select {
		case ev := <-l.events:
			u := &l.us[ev.idx]
			if !u.pending || ev.callID != l.callID(ev.idx) || ev.cseq != u.cseq {
				continue // a late answer to an earlier request or a retransmission
			}
			switch {
			case ev.status == 401 || ev.status == 407:
				l.challenges.Add(1)
				if u.nonce == ev.nonce || ev.nonce == "" {
					u.pending = false // our fresh credentials were refused
					l.failed.Add(1)
					l.why[fmt.Sprintf("%d_again", ev.status)]++
					done++
					inflight--
					continue
				}
				u.nonce, u.nc, u.tries = ev.nonce, 0, 0
				l.send(ev.idx)
			case ev.status >= 200:
				u.pending = false
				if ev.status >= 300 {
					l.failed.Add(1)
					l.why[strconv.Itoa(ev.status)]++
				}
				done++
				inflight--
			}
		case now := <-tick.C:
			if now.After(deadline) {
				return fmt.Errorf("timed out with %d of %d done", done, len(l.us))
			}
			for i := max(0, next-l.o.window*4); i < next; i++ { // in flight are among the last sent
				u := &l.us[i]
				if !u.pending || now.Sub(u.sent) < (500*time.Millisecond)<<min(u.tries, 3) {
					continue
				}
				if u.tries >= 7 {
					u.pending = false
					l.failed.Add(1)
					l.why["timeout"]++
					done++
					inflight--
					continue
				}
				u.tries++
				l.retrans.Add(1)
				l.resend(i)
			}
		}
	}
	return nil
}

func (l *loader) name(i int) string       { return fmt.Sprintf("user%04d", l.o.first+i) }
func (l *loader) pass(i int) string       { return fmt.Sprintf("pass%04d", l.o.first+i) }
func (l *loader) conn(i int) *net.UDPConn { return l.conns[i%len(l.conns)] }
func (l *loader) callID(i int) string {
	return fmt.Sprintf("s%d-%d", l.us[i].step, l.o.first+i)
}

var lastMsg sync.Map // idx -> []byte, for retransmission (small: only in-flight kept)

func (l *loader) resend(i int) {
	if b, ok := lastMsg.Load(i); ok {
		l.us[i].sent = time.Now()
		_, _ = l.conn(i).WriteToUDP(b.([]byte), l.raddr)
	}
}

func (l *loader) send(i int) {
	u := &l.us[i]
	u.cseq++
	c := l.conn(i)
	la := c.LocalAddr().(*net.UDPAddr)
	name := l.name(i)
	var method, ruri, to, hdr, body, authHdr string
	switch u.step {
	case stepReg:
		method, ruri = "REGISTER", "sip:"+l.o.domain
		to = "<sip:" + name + "@" + l.o.domain + ">"
		hdr = fmt.Sprintf("Contact: <sip:%s@%s>;expires=%d\r\n", name, la, l.o.expires)
		authHdr = "Authorization"
	case stepJoin, stepPost:
		room := fmt.Sprintf("room%03d", i%max(l.o.rooms, 1)+1)
		method, ruri = "MESSAGE", "sip:"+room+"@conf."+l.o.domain
		to = "<" + ruri + ">"
		body = "#join"
		hdr = "Content-Type: text/plain\r\n"
		authHdr = "Proxy-Authorization"
	}
	if u.nonce != "" {
		u.nc++
		cr, err := digest.Digest(&digest.Challenge{Realm: l.o.domain, Nonce: u.nonce, Algorithm: "MD5", QOP: []string{"auth"}},
			digest.Options{Method: method, URI: ruri, Username: name, Password: l.pass(i), Cnonce: strconv.Itoa(rand.Int()), Count: u.nc})
		if err == nil {
			hdr += authHdr + ": " + cr.String() + "\r\n"
		}
	}
	msg := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%d-%d-%d;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:%s@%s>;tag=t%d\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n%sContent-Length: %d\r\n\r\n%s",
		method, ruri, la, l.o.first+i, u.cseq, rand.Uint32(), name, l.o.domain, l.o.first+i, to, l.callID(i), u.cseq, method, hdr, len(body), body)
	b := []byte(msg)
	lastMsg.Store(i, b)
	u.sent = time.Now()
	_, _ = c.WriteToUDP(b, l.raddr)
}

// read parses what arrives on c: answers to our requests go to the state
// goroutine; requests (room copies, notices) are answered 200 here and tracked.
func (l *loader) read(c *net.UDPConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		m := buf[:n]
		head, body, _ := bytes.Cut(m, []byte("\r\n\r\n"))
		lines := strings.Split(string(head), "\r\n")
		if strings.HasPrefix(lines[0], "SIP/2.0 ") {
			st, _ := strconv.Atoi(lines[0][8:11])
			var ev event
			ev.status = st
			for _, h := range lines[1:] {
				k, v, _ := strings.Cut(h, ":")
				v = strings.TrimSpace(v)
				switch strings.ToLower(k) {
				case "call-id", "i":
					ev.callID = v
				case "cseq":
					n, _, _ := strings.Cut(v, " ")
					c, _ := strconv.ParseUint(n, 10, 32)
					ev.cseq = uint32(c)
				case "www-authenticate", "proxy-authenticate":
					if ch, err := digest.ParseChallenge(v); err == nil {
						ev.nonce = ch.Nonce
					}
				}
			}
			_, num, ok := strings.Cut(ev.callID, "-")
			k, err := strconv.Atoi(num)
			if !ok || err != nil || k-l.o.first < 0 || k-l.o.first >= len(l.us) {
				continue
			}
			ev.idx = k - l.o.first
			if st >= 200 {
				lastMsg.Delete(ev.idx)
			}
			l.events <- ev
			continue
		}
		// A request: answer 200 with its Via, From, To (tagged), Call-ID, CSeq.
		var resp strings.Builder
		resp.WriteString("SIP/2.0 200 OK\r\n")
		toUser := ""
		for _, h := range lines[1:] {
			k, v, _ := strings.Cut(h, ":")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "via", "v", "from", "f", "call-id", "i", "cseq":
				resp.WriteString(h + "\r\n")
			case "to", "t":
				resp.WriteString(h + ";tag=r\r\n")
				if _, a, ok := strings.Cut(v, "sip:"); ok {
					toUser, _, _ = strings.Cut(a, "@")
				}
			}
		}
		resp.WriteString("Content-Length: 0\r\n\r\n")
		_, _ = c.WriteToUDP([]byte(resp.String()), from)
		l.track(toUser, string(body))
	}
}

// track records a room copy "[user0001]: p<N> <unixnano>" to toUser.
func (l *loader) track(toUser, body string) {
	if l.members == 0 {
		return
	}
	i := strings.Index(body, "]: p")
	if i < 0 {
		l.notices.Add(1)
		return
	}
	now := time.Now().UnixNano()
	var post int
	var at int64
	if _, err := fmt.Sscanf(body[i+4:], "%d %d", &post, &at); err != nil || post < 0 || post >= len(l.got) {
		l.stray.Add(1)
		return
	}
	k, err := strconv.Atoi(strings.TrimPrefix(toUser, "user"))
	m := k - l.o.first
	if err != nil || m < 0 || m >= l.members {
		l.stray.Add(1)
		return
	}
	bit := post*l.members + m
	w := &l.seen[bit/64]
	for {
		old := w.Load()
		if old&(1<<(bit%64)) != 0 {
			l.dups.Add(1)
			return
		}
		if w.CompareAndSwap(old, old|1<<(bit%64)) {
			break
		}
	}
	l.got[post].Add(1)
	for {
		old := l.lastAt[post].Load()
		if now <= old || l.lastAt[post].CompareAndSwap(old, now) {
			break
		}
	}
	l.mu.Lock()
	_ = l.hist.RecordValue((now - at) / 1000)
	l.mu.Unlock()
}

// fanout has user index 0 post o.posts lines to room001, gap apart, and waits
// (bounded) for every member but the sender to get each.
func (l *loader) fanout(deadline time.Time) error {
	want := uint32(l.members - 1)
	t0 := time.Now()
	for p := range l.o.posts {
		now := time.Now()
		l.postSent[p].Store(now.UnixNano())
		if err := l.post(p, fmt.Sprintf("p%d %d", p, now.UnixNano())); err != nil {
			return err
		}
		time.Sleep(time.Until(t0.Add(time.Duration(p+1) * l.o.gap))) // posts on a schedule, not after each answer
	}
	// Wait until every copy is in, or nothing arrived for 30 s (the server's copy
	// timeout is 8 s: what has not come by then never will), or the deadline.
	var seen uint64
	quiet := time.Now()
	for {
		all := true
		var n uint64
		for p := range l.o.posts {
			g := l.got[p].Load()
			n += uint64(g)
			if g < want {
				all = false
			}
		}
		if n != seen {
			seen, quiet = n, time.Now()
		}
		if all || time.Now().After(deadline) || time.Since(quiet) > 30*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("fanout_s %.2f\n", time.Since(t0).Seconds())
	var total int64
	last := hdrhistogram.New(1, 60_000_000, 3)
	for p := range l.o.posts {
		total += int64(l.got[p].Load())
		if l.got[p].Load() > 0 {
			_ = last.RecordValue((l.lastAt[p].Load() - l.postSent[p].Load()) / 1000)
		}
	}
	exp := int64(want) * int64(l.o.posts)
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Printf("fanout_members %d\nfanout_posts %d\nfanout_expected %d\nfanout_delivered %d\nfanout_lost %d\nfanout_dup %d\nfanout_stray %d\n",
		l.members, l.o.posts, exp, total, exp-total, l.dups.Load(), l.stray.Load())
	fmt.Printf("fanout_delivery_p50_ms %.1f\nfanout_delivery_p99_ms %.1f\nfanout_last_member_p50_ms %.1f\nfanout_last_member_p99_ms %.1f\nfanout_last_member_max_ms %.1f\n",
		float64(l.hist.ValueAtQuantile(50))/1000, float64(l.hist.ValueAtQuantile(99))/1000,
		float64(last.ValueAtQuantile(50))/1000, float64(last.ValueAtQuantile(99))/1000, float64(last.Max())/1000)
	return nil
}

// post sends one line from user index 0 to room001 and waits for its final
// answer, authenticating again when the nonce went stale (lifetime 300 s).
func (l *loader) post(p int, body string) error {
	u := &l.us[0]
	ruri := "sip:room001@conf." + l.o.domain
	callID := fmt.Sprintf("p%d-%d", p, l.o.first)
	for try := 0; try < 3; try++ {
		u.cseq++
		u.nc++
		cr, err := digest.Digest(&digest.Challenge{Realm: l.o.domain, Nonce: u.nonce, Algorithm: "MD5", QOP: []string{"auth"}},
			digest.Options{Method: "MESSAGE", URI: ruri, Username: l.name(0), Password: l.pass(0), Cnonce: strconv.Itoa(rand.Int()), Count: u.nc})
		if err != nil {
			return err
		}
		la := l.conn(0).LocalAddr()
		msg := fmt.Sprintf("MESSAGE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-post-%d-%d;rport\r\nMax-Forwards: 70\r\n"+
			"From: <sip:%s@%s>;tag=p\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: %d MESSAGE\r\nProxy-Authorization: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
			ruri, la, p, try, l.name(0), l.o.domain, ruri, callID, u.cseq, cr.String(), len(body), body)
		_, _ = l.conn(0).WriteToUDP([]byte(msg), l.raddr)
		timeout := time.After(10 * time.Second)
	wait:
		for {
			select {
			case ev := <-l.events:
				if ev.callID != callID || ev.status < 200 {
					continue
				}
				if ev.status == 401 || ev.status == 407 {
					u.nonce, u.nc = ev.nonce, 0
					break wait
				}
				if ev.status >= 300 {
					return fmt.Errorf("post %d: %d", p, ev.status)
				}
				return nil
			case <-timeout:
				return fmt.Errorf("post %d: no answer within 10 s", p)
			}
		}
	}
	return fmt.Errorf("post %d: challenged 3 times", p)
}
