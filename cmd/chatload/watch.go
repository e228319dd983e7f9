package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/chatload/chatload/report"
)

type watchFlags struct {
	every       time.Duration
	count       int
	log         string
	metricsAddr string
}

func newWatchCmd(e *env) *cobra.Command {
	var (
		f  testFlags
		wf watchFlags
	)
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Run the synthetic transaction on a schedule, like a Lync watcher node: JSON lines, Prometheus metrics, /healthz",
		Long: `Run chatload test's synthetic transaction every --every for as long as the
command runs (or --count times), like the watcher nodes that run
Test-CsPersistentChatMessage on a schedule.

Each transaction appends one JSON line to --log (default standard output) with the
fields of 'chatload test --output json': timestamp, target, target_fqdn, protocol,
transport, sender, receiver, room, result, latency_ms, failed_step, failure_class,
error_message, diagnosis, steps.

--metrics-addr HOST:PORT serves:
  /metrics  Prometheus metrics: chatload_watch_last_success (1 or 0), transactions by
            result, failures by class and step, latency histograms of the transaction
            and of each step, time of the last transaction and of the last success
  /healthz  200 while the watcher runs on schedule; 503 when a transaction is overdue
  /last     the last transaction's JSON; status 200 Success, 503 Failure or none yet

Transactions never overlap: one that takes longer than --every delays the next.
Without --target the embedded server is started once, as a child process beside
the watcher (as run does), and tested every time; with --target the
target's name is looked up again for every transaction (a DNS failure is a Failure).
The flags of the transaction are test's (see chatload test --help).

Exit status: 0 stopped by a signal or after --count transactions, whatever their
results (they are in the log and the metrics); 1 the log could not be written;
2 usage error.`,
		Example: `  chatload watch --every 1m --metrics-addr 127.0.0.1:9464
  chatload watch --every 5m --target sip.example.com --transport tls \
      --sender sip:watch1@example.com --sender-credential file:/etc/chatload/pw1 \
      --receiver sip:watch2@example.com --receiver-credential file:/etc/chatload/pw2 \
      --room watchroom --log /var/log/chatload/watch.jsonl --metrics-addr :9464`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if p, ok := protocolNamed(f.protocol); ok && !cmd.Flags().Changed("transport") {
				f.transport = p.Transports[0] // the protocol's default, as test does
			}
			return runWatch(cmd.Context(), e, f, wf)
		},
	}
	addTransactionFlags(cmd, &f)
	f.output = "text"
	fl := cmd.Flags()
	fl.DurationVar(&wf.every, "every", 5*time.Minute, "time between the starts of two transactions")
	fl.IntVar(&wf.count, "count", 0, "stop after this many transactions (0: run until stopped)")
	fl.StringVar(&wf.log, "log", "-", "append one JSON line per transaction to this file (- standard output)")
	fl.StringVar(&wf.metricsAddr, "metrics-addr", "", "serve /metrics, /healthz and /last on HOST:PORT (default: not served)")
	return cmd
}

func runWatch(ctx context.Context, e *env, f testFlags, wf watchFlags) error {
	if err := f.validate(); err != nil {
		return err
	}
	switch {
	case wf.every <= 0:
		return usageErr("--every %v: must be positive", wf.every)
	case wf.count < 0:
		return usageErr("--count %d: must be 0 (no end) or more", wf.count)
	case wf.log == "":
		return usageErr("--log is empty: give a file or - for standard output")
	}
	// The log is opened before anything runs: a bad path is a usage error now,
	// not a lost day of transactions.
	var logw io.Writer = e.stdout
	if wf.log != "-" {
		fh, err := os.OpenFile(wf.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return usageErr("--log: %v", err)
		}
		defer fh.Close()
		logw = fh
	}
	tr, err := newTransactor(ctx, e, f, true)
	if err != nil {
		return err
	}
	defer tr.close()

	w := newWatchMetrics(wf.every + f.timeout)
	if wf.metricsAddr != "" {
		ms, err := w.serve(wf.metricsAddr)
		if err != nil {
			return usageErr("--metrics-addr %s: %v", wf.metricsAddr, err)
		}
		defer ms.close()
		fmt.Fprintf(e.stderr, "chatload watch: metrics on http://%s/metrics, health on /healthz\n", ms.addr)
	}

	next := time.Now()
	for n := 0; wf.count == 0 || n < wf.count; n++ {
		w.starting(time.Now())
		r := tr.do(ctx)
		if ctx.Err() != nil {
			return nil // stopped during a transaction: it did not complete, so it is not logged
		}
		w.record(r)
		if err := r.WriteJSONLine(logw); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("--log: %w", err)}
		}
		if wf.count != 0 && n+1 == wf.count {
			break
		}
		next = next.Add(wf.every)
		if now := time.Now(); next.Before(now) {
			next = now // late: start now, and keep the period from here
		}
		w.scheduled(next)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(next)):
		}
	}
	return nil
}

// watchMetrics are the watcher's Prometheus metrics and health.
type watchMetrics struct {
	reg          *prometheus.Registry
	transactions *prometheus.CounterVec
	failures     *prometheus.CounterVec
	latency      prometheus.Histogram
	steps        *prometheus.HistogramVec
	lastSuccess  prometheus.Gauge
	lastTime     prometheus.Gauge
	lastOKTime   prometheus.Gauge
	lastLatency  prometheus.Gauge
	info         *prometheus.GaugeVec

	mu    sync.Mutex
	last  *report.TestResult
	due   time.Time     // the next transaction should have started by then
	slack time.Duration // a transaction may take this long past due
}

func newWatchMetrics(slack time.Duration) *watchMetrics {
	w := &watchMetrics{
		reg: prometheus.NewRegistry(),
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chatload_watch_transactions_total",
			Help: "Synthetic transactions completed, by result (success, failure)."}, []string{"result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chatload_watch_failures_total",
			Help: "Failed transactions by failure class and the step that failed."}, []string{"class", "step"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "chatload_watch_latency_seconds",
			Help: "Duration of whole transactions (log on to log off), successful or not.", Buckets: latencyBuckets}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "chatload_watch_step_latency_seconds",
			Help: "Duration of each successful step of the transactions.", Buckets: latencyBuckets}, []string{"step"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chatload_watch_last_success",
			Help: "1 when the last transaction succeeded, 0 when it failed (absent before the first)."}),
		lastTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chatload_watch_last_transaction_timestamp_seconds",
			Help: "Unix time the last transaction started."}),
		lastOKTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chatload_watch_last_success_timestamp_seconds",
			Help: "Unix time the last successful transaction started (0: none yet)."}),
		lastLatency: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chatload_watch_last_latency_seconds",
			Help: "Duration of the last transaction."}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chatload_watch_info",
			Help: "What the last transaction tested (value 1)."}, []string{"target", "protocol", "transport", "sender", "receiver", "room"}),
		slack: slack,
	}
	w.transactions.WithLabelValues("success")
	w.transactions.WithLabelValues("failure")
	w.reg.MustRegister(w.transactions, w.failures, w.latency, w.steps, w.lastTime, w.lastOKTime, w.lastLatency, w.info)
	return w
}

func (w *watchMetrics) starting(now time.Time) {
	w.mu.Lock()
	w.due = now
	w.mu.Unlock()
}

func (w *watchMetrics) scheduled(next time.Time) {
	w.mu.Lock()
	w.due = next
	w.mu.Unlock()
}

func (w *watchMetrics) record(r report.TestResult) {
	ok := r.Result == "Success"
	ts := float64(r.Timestamp.UnixNano()) / 1e9
	if ok {
		w.transactions.WithLabelValues("success").Inc()
		w.lastOKTime.Set(ts)
	} else {
		w.transactions.WithLabelValues("failure").Inc()
		w.failures.WithLabelValues(r.FailureClass, r.FailedStep).Inc()
	}
	lat := time.Duration(r.Latency).Seconds()
	w.latency.Observe(lat)
	for _, st := range r.Steps {
		if st.OK {
			w.steps.WithLabelValues(st.Name).Observe(time.Duration(st.Duration).Seconds())
		}
	}
	w.lastTime.Set(ts)
	w.lastLatency.Set(lat)
	w.info.Reset()
	w.info.WithLabelValues(r.TargetFqdn, r.Protocol, r.Transport, r.Sender, r.Receiver, r.Room).Set(1)

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.reg.MustRegister(w.lastSuccess)
	}
	if ok {
		w.lastSuccess.Set(1)
	} else {
		w.lastSuccess.Set(0)
	}
	w.last = &r
}

func (w *watchMetrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(w.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		overdue := time.Since(w.due) - w.slack
		w.mu.Unlock()
		if overdue > 0 {
			http.Error(rw, fmt.Sprintf("overdue: the watcher is %v behind its schedule", overdue.Round(time.Second)), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(rw, "ok")
	})
	mux.HandleFunc("/last", func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		last := w.last
		w.mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		if last == nil {
			rw.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(rw, `{"result":null}`)
			return
		}
		if last.Result != "Success" {
			rw.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(rw).Encode(last)
	})
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(rw, r)
			return
		}
		fmt.Fprintln(rw, "chatload watch: /metrics /healthz /last")
	})
	return mux
}

// serve listens on addr and serves the handler until closed.
func (w *watchMetrics) serve(addr string) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &metricsServer{srv: &http.Server{Handler: w.handler(), ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{}), addr: ln.Addr().String()}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}
