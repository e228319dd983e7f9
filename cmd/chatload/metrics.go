package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chatload/chatload/engine"
	"github.com/chatload/chatload/report"
)

// latencyBuckets are the upper bounds (seconds) of chatload_latency_seconds: 0.5 ms
// to 60 s, the recorders' range. The histograms are filled from the intervals' HDR
// histograms, so each count lands in its bucket within HDR's 0.1% precision.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// interval percentiles exported as chatload_interval_latency_seconds{quantile}.
var intervalQuantiles = []struct {
	label string
	p     float64
}{{"0.5", 50}, {"0.9", 90}, {"0.99", 99}, {"0.999", 99.9}}

// messageStates are the label values of chatload_messages_total: the report's
// "messages" keys.
var messageStates = []string{"sent", "accepted", "expected_deliveries", "delivered", "lost", "duplicated", "out_of_order", "corrupted"}

// opLatency is one operation's cumulative latency histogram and its last interval's
// percentiles.
type opLatency struct {
	buckets []uint64 // per latencyBuckets, not cumulative
	count   uint64
	sum     float64 // seconds
	last    []float64
}

// liveMetrics is what --metrics-addr serves: a prometheus.Collector over a snapshot
// the run updates at each interval (counters, latency histograms: per interval, never
// per message) and each progress tick (gauges: in flight, rates, phase). Scrapes read
// the snapshot under its mutex; safe for concurrent use.
type liveMetrics struct {
	mu       sync.Mutex
	info     []string              // run_id, scenario, target
	ops      map[string][2]float64 // op -> ok, error counts
	msgs     report.Messages
	failures map[string]float64 // class -> count
	dropped  float64
	cpu      float64
	rss      float64
	lag      float64 // seconds, last interval's p99
	lat      map[string]*opLatency
	nIv      float64
	p        engine.Progress

	dInfo, dOps, dMsgs, dFail, dDropped, dCPU, dRSS, dLag, dLat, dLast, dIv *prometheus.Desc
	dInFlight, dTarget, dAchieved, dPhase, dElapsed                         *prometheus.Desc
}

func newLiveMetrics(runID, scenario, target string) *liveMetrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("chatload_"+name, help, labels, nil)
	}
	return &liveMetrics{
		info:     []string{runID, scenario, target},
		ops:      map[string][2]float64{},
		failures: map[string]float64{},
		lat:      map[string]*opLatency{},

		dInfo:     d("run_info", "The run: its id, scenario and target (value 1).", "run_id", "scenario", "target"),
		dOps:      d("operations_total", "Operations completed, by operation and result (ok, error); updated at each interval.", "op", "result"),
		dMsgs:     d("messages_total", "Chat messages by state, as the report's messages counts; updated at each interval.", "state"),
		dFail:     d("failures_total", "Failures by class; updated at each interval.", "class"),
		dDropped:  d("dropped_total", "Operations due by the schedule but not started (in-flight cap); updated at each interval."),
		dCPU:      d("generator_cpu_seconds_total", "CPU time of the load generator process; updated at each interval."),
		dRSS:      d("generator_max_rss_bytes", "Peak resident memory of the load generator process so far."),
		dLag:      d("schedule_lag_p99_seconds", "The last interval's p99 of the pacer's lag behind the schedule."),
		dLat:      d("latency_seconds", "Latency by operation (delivery: intended post time to receipt), from the intervals' HDR histograms.", "op"),
		dLast:     d("interval_latency_seconds", "The last interval's latency percentiles by operation.", "op", "quantile"),
		dIv:       d("intervals_total", "Reporting intervals closed."),
		dInFlight: d("in_flight", "Operations in flight now."),
		dTarget:   d("target_rate", "Scheduled operations per second now (open model)."),
		dAchieved: d("achieved_rate", "Operations started per second over the last second."),
		dPhase:    d("phase", "The run's phase (value 1 for the current one).", "phase"),
		dElapsed:  d("elapsed_seconds", "Time since the run started."),
	}
}

// Describe implements prometheus.Collector.
func (m *liveMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.dInfo, m.dOps, m.dMsgs, m.dFail, m.dDropped, m.dCPU, m.dRSS, m.dLag, m.dLat, m.dLast, m.dIv,
		m.dInFlight, m.dTarget, m.dAchieved, m.dPhase, m.dElapsed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the snapshot as constant metrics.
func (m *liveMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	g(m.dInfo, 1, m.info...)
	for _, op := range sortedKeys(m.ops) {
		c(m.dOps, m.ops[op][0], op, "ok")
		c(m.dOps, m.ops[op][1], op, "error")
	}
	ms := m.msgs
	for i, v := range []uint64{ms.Sent, ms.Accepted, ms.ExpectedDeliveries, ms.Delivered, ms.Lost, ms.Duplicated, ms.OutOfOrder, ms.Corrupted} {
		c(m.dMsgs, float64(v), messageStates[i])
	}
	for _, class := range sortedKeys(m.failures) {
		c(m.dFail, m.failures[class], class)
	}
	c(m.dDropped, m.dropped)
	c(m.dCPU, m.cpu)
	g(m.dRSS, m.rss)
	g(m.dLag, m.lag)
	c(m.dIv, m.nIv)
	for _, op := range sortedKeys(m.lat) {
		l := m.lat[op]
		cum := make(map[float64]uint64, len(latencyBuckets))
		var n uint64
		for i, ub := range latencyBuckets {
			n += l.buckets[i]
			cum[ub] = n
		}
		ch <- prometheus.MustNewConstHistogram(m.dLat, l.count, l.sum, cum, op)
		for i, q := range intervalQuantiles {
			g(m.dLast, l.last[i], op, q.label)
		}
	}
	p := m.p
	g(m.dInFlight, float64(p.InFlight))
	g(m.dTarget, p.TargetRate)
	g(m.dAchieved, p.AchievedRate)
	g(m.dElapsed, p.Elapsed.Seconds())
	for _, ph := range []string{engine.PhaseSetup, engine.PhaseSteady, engine.PhaseDrain, engine.PhaseTeardown} {
		v := 0.0
		if p.Phase == ph {
			v = 1
		}
		g(m.dPhase, v, ph)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// interval adds a closed interval to the counters and histograms. It decodes the
// interval's histograms: a few milliseconds per interval, off the hot path.
func (m *liveMetrics) interval(iv report.Interval) {
	type decoded struct {
		op string
		l  opLatency
	}
	var lats []decoded
	for op, o := range iv.Operations {
		h, err := report.DecodeHistogram(o.Histogram)
		if err != nil || h.TotalCount() == 0 {
			continue
		}
		d := decoded{op: op, l: opLatency{buckets: make([]uint64, len(latencyBuckets)), count: uint64(h.TotalCount())}}
		d.l.sum = h.Mean() * float64(h.TotalCount()) / 1e9
		for _, b := range h.Distribution() {
			if b.Count == 0 {
				continue
			}
			s := float64(b.From) / 1e9 // the bar's lowest equivalent value, in seconds: 1ms is le="0.001"
			i, _ := slices.BinarySearch(latencyBuckets, s)
			if i == len(latencyBuckets) {
				i-- // beyond 60 s is out of the recorders' range (clamped there)
			}
			d.l.buckets[i] += uint64(b.Count)
		}
		for _, q := range intervalQuantiles {
			d.l.last = append(d.l.last, float64(h.ValueAtPercentile(q.p))/1e9)
		}
		lats = append(lats, d)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for op, o := range iv.Operations {
		c := m.ops[op]
		m.ops[op] = [2]float64{c[0] + float64(o.Count-o.Errors), c[1] + float64(o.Errors)}
	}
	m.msgs.Add(iv.Messages)
	for _, f := range iv.Failures {
		m.failures[f.Class.String()] += float64(f.Count)
	}
	m.dropped += float64(iv.Load.Dropped)
	m.cpu += iv.Generator.CPUSeconds
	m.rss = float64(iv.Generator.MaxRSSBytes)
	m.lag = iv.Generator.ScheduleLagP99US / 1e6
	m.nIv++
	for _, d := range lats {
		l := m.lat[d.op]
		if l == nil {
			l = &opLatency{buckets: make([]uint64, len(latencyBuckets))}
			m.lat[d.op] = l
		}
		for i, n := range d.l.buckets {
			l.buckets[i] += n
		}
		l.count += d.l.count
		l.sum += d.l.sum
		l.last = d.l.last
	}
}

// progress keeps the latest progress snapshot for the gauges.
func (m *liveMetrics) progress(p engine.Progress) {
	m.mu.Lock()
	m.p = p
	m.mu.Unlock()
}

// metricsServer serves m at http://addr/metrics until shut down.
type metricsServer struct {
	srv  *http.Server
	done chan struct{}
	addr string
}

// serveMetrics listens on addr (HOST:PORT, as given: a non-loopback address exposes
// the metrics to whoever can reach it, which is the user's choice) and serves m.
func serveMetrics(addr string, m prometheus.Collector) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(m); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "chatload: metrics at /metrics")
	})
	s := &metricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{}), addr: ln.Addr().String()}
	go func() {
		defer close(s.done)
		// Serve fails only when the listener does: the run goes on without live
		// metrics (the report and the checkpoint have everything).
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// close stops serving, letting a scrape in progress finish (at most 2 s).
func (s *metricsServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}
