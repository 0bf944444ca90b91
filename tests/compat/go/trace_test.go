package compat

// Message trace from the official Go client: a producer and a push consumer with trace on write
// their Pub, SubBefore and SubAfter records to RMQ_SYS_TRACE_TOPIC, and `rocketry admin
// queryMsgTraceById` finds them by the message id with the right groups.

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

type traceRecord struct {
	Type       string `json:"type"`
	Group      string `json:"group"`
	ClientHost string `json:"clientHost"`
	Success    *bool  `json:"success"`
	RecordedBy string `json:"recordedBy"`
}

func TestGoClientTraceIsQueryable(t *testing.T) {
	e := startConsumeEnv(t, "traceTopicEnable=true")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	topic := "GoTraced_" + e.run
	e.createTopics(ctx, t, map[string]int{topic: 2})
	traceConfig := func(group string) *primitive.TraceConfig {
		return &primitive.TraceConfig{GroupName: group, Access: primitive.Local, Resolver: primitive.NewPassthroughResolver(e.ns)}
	}
	producerGroup := "GoPG_traced_" + e.run
	p := e.startProducer(t, "traced", producer.WithTrace(traceConfig(producerGroup)))
	res, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte("traced body")).WithKeys([]string{"trace-key-" + e.run}))
	if err != nil || res.Status != primitive.SendOK {
		t.Fatalf("send: %v %v", res, err)
	}
	consumerGroup := "GoCG_traced_" + e.run
	var got atomic.Int32
	e.startPushConsumer(t, topic, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		got.Add(int32(len(msgs)))
		return consumer.ConsumeSuccess, nil
	}, consumer.WithGroupName(consumerGroup), consumer.WithInstance("go-traced-"+e.run), consumer.WithTrace(traceConfig(consumerGroup)))

	var records []traceRecord
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command(rocketryBin(t), "admin", "queryMsgTraceById", "-n", e.ns[0], "-i", res.MsgID, "--json").Output()
		var parsed struct {
			Records []traceRecord `json:"records"`
		}
		if err == nil && json.Unmarshal(out, &parsed) == nil {
			records = parsed.Records
		}
		byType := map[string]traceRecord{}
		for _, r := range records {
			byType[r.Type] = r
		}
		pub, before, after := byType["Pub"], byType["SubBefore"], byType["SubAfter"]
		if pub.Group == producerGroup && before.Group == consumerGroup && after.Group == consumerGroup {
			if pub.Success == nil || !*pub.Success || after.Success == nil || !*after.Success {
				t.Fatalf("a successful send and consumption recorded as failed: %+v", records)
			}
			if pub.ClientHost == "" || before.ClientHost == "" || pub.RecordedBy != "client" {
				t.Fatalf("records without their client: %+v", records)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s (consumed %d), the trace of %s is %+v (%v)", got.Load(), res.MsgID, records, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("trace of %s: %+v", res.MsgID, records)
	// The official Go client found the trace topic's route on its own: it is listed.
	out, err := exec.Command(rocketryBin(t), "admin", "topicList", "-n", e.ns[0]).Output()
	if err != nil || !slices.Contains(strings.Split(string(out), "\n"), "RMQ_SYS_TRACE_TOPIC") {
		t.Fatalf("topicList: %v\n%s", err, out)
	}
}
