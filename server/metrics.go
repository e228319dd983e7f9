package server

import (
	"reflect"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns a prometheus.Collector of the server's counters (Stats) for
// `chatload serve --metrics-addr`: chatload_server_<json name>, counters with
// the suffix _total, the gauges (*_open) as they are, requests by method in
// chatload_server_requests_total{method}. Each scrape takes one snapshot. Safe
// for concurrent use.
func (s *Server) Collector() prometheus.Collector { return statsCollector{s} }

type statsCollector struct{ s *Server }

// Describe sends nothing: an unchecked collector, its metrics follow Stats.
func (statsCollector) Describe(chan<- *prometheus.Desc) {}

func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	req := prometheus.NewDesc("chatload_server_requests_total", "Requests received, by method (retransmissions absorbed by transactions not counted).", []string{"method"}, nil)
	for m, n := range st.Requests {
		ch <- prometheus.MustNewConstMetric(req, prometheus.CounterValue, float64(n), m)
	}
	v := reflect.ValueOf(st)
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Type.Kind() != reflect.Uint64 || name == "" {
			continue
		}
		kind, full := prometheus.CounterValue, "chatload_server_"+name+"_total"
		if strings.HasSuffix(name, "_open") {
			kind, full = prometheus.GaugeValue, "chatload_server_"+name
		}
		d := prometheus.NewDesc(full, "chatload serve counter "+name+" (see --stats).", nil, nil)
		ch <- prometheus.MustNewConstMetric(d, kind, float64(v.Field(i).Uint()))
	}
}
