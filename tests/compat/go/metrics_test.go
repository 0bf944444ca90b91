package compat

// Metrics (metricsExporterType=PROM) scraped with Prometheus' own text-format parser
// (github.com/prometheus/common/expfmt) while the official Go client produces and consumes:
// the counters move by exactly what was sent and consumed, and the lag gauges match the
// backlog a stalled consumer leaves.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// scrape reads the exporter and returns each family by name.
func scrape(t *testing.T, port int) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s:%d/metrics", loopback, port))
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return families
}

// value sums the samples of a family whose labels include every pair of want.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := families[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func TestMetricsFollowProduceConsumeAndLag(t *testing.T) {
	port := freePorts(t, 1)[0]
	e := startConsumeEnv(t, "metricsExporterType=PROM", fmt.Sprintf("metricsPromExporterPort=%d", port), "dashboardEnable=false")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	topic, group := "GoMetrics_"+e.run, "GoMetricsG_"+e.run
	e.createTopics(ctx, t, map[string]int{topic: 2})
	before := scrape(t, port)
	for _, name := range []string{"rocketmq_rpc_latency_milliseconds", "rocketmq_topic_number", "rocketmq_storage_size_bytes", "process_cpu_seconds_total"} {
		if _, ok := before[name]; !ok {
			t.Fatalf("no family %s", name)
		}
	}
	if got := before["rocketmq_rpc_latency_milliseconds"].GetType(); got != dto.MetricType_HISTOGRAM {
		t.Fatalf("rpc latency is a %v", got)
	}

	p := e.startProducer(t, "metrics")
	send := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(fmt.Sprintf("metrics body %03d", i)))); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
	}
	send(30)
	in := map[string]string{"topic": topic, "message_type": "normal", "is_system": "false", "node_type": "broker", "cluster": "DefaultCluster", "node_id": consumeBrokerName}
	// A scrape may be served from the last second's (the exporter computes at most once a second).
	wait := func(what string, ok func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			f := scrape(t, port)
			if ok(f) {
				return f
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60 s", what)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	after := wait("30 sends counted", func(f map[string]*dto.MetricFamily) bool { return value(f, "rocketmq_messages_in_total", in) >= 30 })
	if got := value(after, "rocketmq_messages_in_total", in); got != 30 {
		t.Fatalf("messages_in_total %v, sent 30", got)
	}
	if got := value(after, "rocketmq_message_size", in); got != 30 {
		t.Fatalf("message_size count %v, sent 30", got)
	}
	if got := value(after, "rocketmq_throughput_in_total", in); got < 30*16 {
		t.Fatalf("throughput_in_total %v for 30 messages of 16-byte bodies", got)
	}
	// The Go client sends SEND_MESSAGE (10) or SEND_MESSAGE_V2 (310).
	var sent float64
	for _, code := range []string{"send_message", "send_message_v2"} {
		sends := map[string]string{"request_code": code, "response_code": "success", "node_type": "broker"}
		sent += value(after, "rocketmq_rpc_latency_milliseconds", sends) - value(before, "rocketmq_rpc_latency_milliseconds", sends)
	}
	if sent != 30 {
		t.Fatalf("rpc latency counted %v sends, sent 30", sent)
	}

	// A consumer that takes everything, then stalls: its committed offsets stop where the
	// stall began (the client commits what it consumed every few seconds).
	var consumed atomic.Int32
	var stalled atomic.Bool
	release := make(chan struct{})
	e.startPushConsumer(t, topic, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		if stalled.Load() {
			<-release
		}
		consumed.Add(int32(len(msgs)))
		return consumer.ConsumeSuccess, nil
	}, consumer.WithGroupName(group), consumer.WithInstance("go-metrics-"+e.run), consumer.WithConsumeMessageBatchMaxSize(1))
	// Runs before the consumer's shutdown (cleanups run last first).
	t.Cleanup(func() { close(release) })
	out := map[string]string{"topic": topic, "consumer_group": group, "is_retry": "false"}
	// All 30 handed out and consumed; the client is counted.
	wait("30 consumed", func(f map[string]*dto.MetricFamily) bool {
		return consumed.Load() == 30 && value(f, "rocketmq_messages_out_total", out) == 30 &&
			value(f, "rocketmq_consumer_connections", map[string]string{"consumer_group": group, "language": "go", "consume_mode": "push"}) == 1
	})
	stalled.Store(true)
	send(20)
	f := wait("a backlog of 20", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "rocketmq_consumer_lag_messages", out) == 20 && value(f, "rocketmq_messages_in_total", in) == 50
	})
	if got := value(f, "rocketmq_consumer_inflight_messages", out) + value(f, "rocketmq_consumer_ready_messages", out); got != 20 {
		t.Fatalf("in flight + ready = %v, the backlog is 20", got)
	}
	if got := value(f, "rocketmq_consumer_lag_latency_milliseconds", out); got <= 0 {
		t.Fatalf("lag latency %v with a backlog", got)
	}
	if got := value(f, "rocketmq_messages_in_total", in); got != 50 {
		t.Fatalf("messages_in_total %v, sent 50", got)
	}
}
