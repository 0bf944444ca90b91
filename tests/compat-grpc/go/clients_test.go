package compatgrpc

import (
	"context"
	"fmt"
	"testing"
	"time"

	rmq "github.com/apache/rocketmq-clients/golang/v5"
	v2 "github.com/apache/rocketmq-clients/golang/v5/protocol/v2"
)

const (
	// Long-polling time of a simple consumer's receive.
	awaitDuration = 5 * time.Second
	// Invisible time of received messages (the broker requires at least 10 s).
	invisibleDuration = 20 * time.Second
)

// startProducer starts a producer that declares topics (QueryRoute for each on start).
func startProducer(t *testing.T, b *broker, topics ...string) rmq.Producer {
	t.Helper()
	p, err := rmq.NewProducer(b.config(""), rmq.WithTopics(topics...))
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	if err := within(t, clientStartTimeout, "Producer.Start", p.Start); err != nil {
		t.Fatalf("Producer.Start (topics %v): %v", topics, err)
	}
	stopQuietly(t, "producer", p.GracefulStop, 5*time.Second)
	return p
}

// startSimpleConsumer starts a simple consumer of group with the given subscriptions.
func startSimpleConsumer(t *testing.T, b *broker, group string, subs map[string]*rmq.FilterExpression) rmq.SimpleConsumer {
	t.Helper()
	c, err := rmq.NewSimpleConsumer(b.config(group),
		rmq.WithSimpleAwaitDuration(awaitDuration),
		rmq.WithSimpleSubscriptionExpressions(subs))
	if err != nil {
		t.Fatalf("NewSimpleConsumer: %v", err)
	}
	if err := within(t, clientStartTimeout, "SimpleConsumer.Start", c.Start); err != nil {
		t.Fatalf("SimpleConsumer.Start (group %s): %v", group, err)
	}
	stopQuietly(t, "simple consumer", c.GracefulStop, 5*time.Second)
	return c
}

// isNoMessage tells whether a receive's error is the broker's "no message" (MESSAGE_NOT_FOUND),
// which the Go SDK hands back as an error.
func isNoMessage(err error) bool {
	s, ok := rmq.AsErrRpcStatus(err)
	return ok && s.GetCode() == int32(v2.Code_MESSAGE_NOT_FOUND)
}

// receive does one Receive: messages, or none when the broker said MESSAGE_NOT_FOUND. Any
// other error fails the test.
func receive(t *testing.T, c rmq.SimpleConsumer, max int32) []*rmq.MessageView {
	t.Helper()
	var mvs []*rmq.MessageView
	err := within(t, awaitDuration+10*time.Second, "SimpleConsumer.Receive", func() error {
		var err error
		mvs, err = c.Receive(context.Background(), max, invisibleDuration)
		return err
	})
	if err != nil && !isNoMessage(err) {
		t.Fatalf("Receive: %v", err)
	}
	return mvs
}

// expectEmpty does one Receive that must bring nothing, and must hold the long poll for the
// whole await duration.
func expectEmpty(t *testing.T, c rmq.SimpleConsumer, what string) {
	t.Helper()
	start := time.Now()
	mvs := receive(t, c, 16)
	took := time.Since(start)
	if len(mvs) != 0 {
		t.Fatalf("%s: Receive returned %d message(s), want none; first: %s", what, len(mvs), describe(mvs[0]))
	}
	// A little slack for timer granularity only.
	if took < awaitDuration-100*time.Millisecond {
		t.Fatalf("%s: empty Receive returned after %v, before its await duration %v (long polling not held)", what, took, awaitDuration)
	}
	t.Logf("%s: empty Receive took %v (await %v)", what, took.Round(time.Millisecond), awaitDuration)
}

// receiveN receives (acking nothing) until n messages arrived or the deadline passed.
func receiveN(t *testing.T, c rmq.SimpleConsumer, n int, deadline time.Duration) []*rmq.MessageView {
	t.Helper()
	var all []*rmq.MessageView
	end := time.Now().Add(deadline)
	for len(all) < n && time.Now().Before(end) {
		all = append(all, receive(t, c, 32)...)
	}
	return all
}

func ack(t *testing.T, c rmq.SimpleConsumer, mv *rmq.MessageView) {
	t.Helper()
	err := within(t, 10*time.Second, "SimpleConsumer.Ack", func() error { return c.Ack(context.Background(), mv) })
	if err != nil {
		t.Fatalf("Ack of %s: %v", describe(mv), err)
	}
}

func send(t *testing.T, p rmq.Producer, m *rmq.Message) *rmq.SendReceipt {
	t.Helper()
	var receipts []*rmq.SendReceipt
	err := within(t, 10*time.Second, "Producer.Send", func() error {
		var err error
		receipts, err = p.Send(context.Background(), m)
		return err
	})
	if err != nil {
		t.Fatalf("Send to %s: %v", m.Topic, err)
	}
	if len(receipts) != 1 {
		t.Fatalf("Send to %s: %d receipts, want 1", m.Topic, len(receipts))
	}
	if receipts[0].MessageID == "" {
		t.Fatalf("Send to %s: receipt has no message id: %+v", m.Topic, receipts[0])
	}
	return receipts[0]
}

func describe(mv *rmq.MessageView) string {
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	return fmt.Sprintf("{id=%s topic=%s tag=%s keys=%v group=%s attempt=%d props=%v body=%q}",
		mv.GetMessageId(), mv.GetTopic(), str(mv.GetTag()), mv.GetKeys(), str(mv.GetMessageGroup()),
		mv.GetDeliveryAttempt(), mv.GetProperties(), mv.GetBody())
}
