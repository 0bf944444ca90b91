package compatgrpc

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	rmq "github.com/apache/rocketmq-clients/golang/v5"
	v2 "github.com/apache/rocketmq-clients/golang/v5/protocol/v2"
)

// sent is what the test sent, by message id.
type sent struct {
	body []byte
	seq  int
}

// TestSendReceiveAck: a producer sends messages with tag, keys and a user property; a simple
// consumer filtering on the tag gets exactly those (not the other tag's), with every field
// intact and the message id of the send receipt; acks them; and then gets nothing.
func TestSendReceiveAck(t *testing.T) {
	b := setup(t)
	topic, group := uniq("GoNormal"), uniq("GoNormalGroup")
	b.createTopic(topic, false)
	b.createGroup(group, false)

	p := startProducer(t, b, topic)
	c := startSimpleConsumer(t, b, group, map[string]*rmq.FilterExpression{topic: rmq.NewFilterExpression("TagA")})
	// A new POP group starts at the end of each queue: receive once before producing.
	expectEmpty(t, c, "receive before producing")

	const n = 10
	want := map[string]sent{}
	for i := 0; i < n; i++ {
		m := &rmq.Message{Topic: topic, Body: []byte(fmt.Sprintf("go-grpc body %d", i))}
		m.SetTag("TagA")
		m.SetKeys(fmt.Sprintf("key-%d", i), "common-key")
		m.AddProperty("seq", strconv.Itoa(i))
		m.AddProperty("origin", "go-compat")
		r := send(t, p, m)
		if _, dup := want[r.MessageID]; dup {
			t.Fatalf("send %d: message id %s given twice", i, r.MessageID)
		}
		want[r.MessageID] = sent{body: m.Body, seq: i}
		// Another tag, interleaved: must be filtered out.
		o := &rmq.Message{Topic: topic, Body: []byte("other tag")}
		o.SetTag("TagB")
		send(t, p, o)
	}

	got := receiveN(t, c, n, 20*time.Second)
	if len(got) != n {
		t.Fatalf("received %d of %d messages", len(got), n)
	}
	seen := map[string]bool{}
	for _, mv := range got {
		id := mv.GetMessageId()
		w, ok := want[id]
		if !ok {
			t.Fatalf("received a message whose id is no send receipt's (TagB not filtered out?): %s", describe(mv))
		}
		if seen[id] {
			t.Fatalf("message %s received twice", id)
		}
		seen[id] = true
		if string(mv.GetBody()) != string(w.body) {
			t.Errorf("%s: body %q, want %q", id, mv.GetBody(), w.body)
		}
		if mv.GetTopic() != topic {
			t.Errorf("%s: topic %q, want %q", id, mv.GetTopic(), topic)
		}
		if tag := mv.GetTag(); tag == nil || *tag != "TagA" {
			t.Errorf("%s: tag %v, want TagA", id, tag)
		}
		keys := append([]string(nil), mv.GetKeys()...)
		sort.Strings(keys)
		if wk := []string{"common-key", fmt.Sprintf("key-%d", w.seq)}; strings.Join(keys, ",") != strings.Join(wk, ",") {
			t.Errorf("%s: keys %v, want %v", id, mv.GetKeys(), wk)
		}
		props := mv.GetProperties()
		if props["seq"] != strconv.Itoa(w.seq) || props["origin"] != "go-compat" {
			t.Errorf("%s: properties %v, want seq=%d origin=go-compat", id, props, w.seq)
		}
		if a := mv.GetDeliveryAttempt(); a != 1 {
			t.Errorf("%s: delivery attempt %d, want 1", id, a)
		}
		if mv.GetBornTimestamp() == nil || mv.GetBornTimestamp().IsZero() {
			t.Errorf("%s: no born timestamp", id)
		}
		if mv.GetReceiptHandle() == "" {
			t.Errorf("%s: no receipt handle", id)
		}
	}
	for _, mv := range got {
		ack(t, c, mv)
	}
	expectEmpty(t, c, "receive after acking all")
}

// TestChangeInvisibleDuration: a received message made visible again after 1 s comes back
// with delivery attempt 2 and can be acked; then nothing is left.
func TestChangeInvisibleDuration(t *testing.T) {
	b := setup(t)
	topic, group := uniq("GoInvisible"), uniq("GoInvisibleGroup")
	b.createTopic(topic, false)
	b.createGroup(group, false)

	p := startProducer(t, b, topic)
	c := startSimpleConsumer(t, b, group, map[string]*rmq.FilterExpression{topic: rmq.SUB_ALL})
	expectEmpty(t, c, "receive before producing")

	m := &rmq.Message{Topic: topic, Body: []byte("come back")}
	m.SetTag("T")
	r := send(t, p, m)

	first := receiveN(t, c, 1, 10*time.Second)
	if len(first) != 1 {
		t.Fatalf("received %d messages, want 1", len(first))
	}
	mv := first[0]
	if mv.GetMessageId() != r.MessageID || mv.GetDeliveryAttempt() != 1 {
		t.Fatalf("first delivery: %s, want id %s attempt 1", describe(mv), r.MessageID)
	}
	oldHandle := mv.GetReceiptHandle()
	err := within(t, 10*time.Second, "ChangeInvisibleDuration", func() error { return c.ChangeInvisibleDuration(mv, time.Second) })
	if err != nil {
		t.Fatalf("ChangeInvisibleDuration(1s): %v", err)
	}
	if mv.GetReceiptHandle() == "" {
		t.Fatalf("ChangeInvisibleDuration answered no new receipt handle")
	}
	t.Logf("receipt handle %q -> %q", oldHandle, mv.GetReceiptHandle())

	changedAt := time.Now()
	again := receiveN(t, c, 1, 10*time.Second)
	if len(again) != 1 {
		t.Fatalf("after ChangeInvisibleDuration(1s): received %d messages within 10 s, want the message back", len(again))
	}
	back := again[0]
	t.Logf("message back after %v: %s", time.Since(changedAt).Round(time.Millisecond), describe(back))
	if back.GetMessageId() != r.MessageID {
		t.Fatalf("came back: %s, want id %s", describe(back), r.MessageID)
	}
	if a := back.GetDeliveryAttempt(); a != 2 {
		t.Errorf("came back with delivery attempt %d, want 2", a)
	}
	if string(back.GetBody()) != "come back" {
		t.Errorf("came back with body %q", back.GetBody())
	}
	ack(t, c, back)
	expectEmpty(t, c, "receive after ack")
}

// fifoSend sends per message group `perGroup` messages (interleaved across groups) with a
// sequence number property, and returns the ids in send order per group.
func fifoSend(t *testing.T, p rmq.Producer, topic string, groups []string, perGroup int) map[string][]string {
	t.Helper()
	order := map[string][]string{}
	for i := 0; i < perGroup; i++ {
		for _, g := range groups {
			m := &rmq.Message{Topic: topic, Body: []byte(fmt.Sprintf("%s#%d", g, i))}
			m.SetTag("fifo")
			m.SetMessageGroup(g)
			m.AddProperty("seq", strconv.Itoa(i))
			r := send(t, p, m)
			order[g] = append(order[g], r.MessageID)
		}
	}
	return order
}

// checkFifo checks that each group's messages were got exactly once, in send order.
func checkFifo(t *testing.T, want map[string][]string, got map[string][]*rmq.MessageView) {
	t.Helper()
	for g, ids := range want {
		var gotIDs []string
		for _, mv := range got[g] {
			gotIDs = append(gotIDs, mv.GetMessageId())
		}
		if strings.Join(gotIDs, ",") != strings.Join(ids, ",") {
			var seqs []string
			for _, mv := range got[g] {
				seqs = append(seqs, mv.GetProperties()["seq"])
			}
			t.Errorf("message group %s: got seq %v (ids %v), want ids %v in this order", g, seqs, gotIDs, ids)
		}
	}
	for g := range got {
		if _, ok := want[g]; !ok {
			t.Errorf("messages of unknown message group %q: %d", g, len(got[g]))
		}
	}
}

func fifoSummary(mvs []*rmq.MessageView) string {
	var parts []string
	for _, mv := range mvs {
		g := "<nil>"
		if mg := mv.GetMessageGroup(); mg != nil {
			g = *mg
		}
		parts = append(parts, g+"#"+mv.GetProperties()["seq"])
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// TestFifoSimpleConsumer: on a FIFO topic with an orderly group, a simple consumer gets each
// message group's messages in send order, with the message group set.
func TestFifoSimpleConsumer(t *testing.T) {
	b := setup(t)
	topic, group := uniq("GoFifo"), uniq("GoFifoGroup")
	b.createTopic(topic, true)
	b.createGroup(group, true)

	p := startProducer(t, b, topic)
	c := startSimpleConsumer(t, b, group, map[string]*rmq.FilterExpression{topic: rmq.SUB_ALL})
	expectEmpty(t, c, "receive before producing")

	groups := []string{"order-a", "order-b", "order-c"}
	const perGroup = 5
	want := fifoSend(t, p, topic, groups, perGroup)

	got := map[string][]*rmq.MessageView{}
	total := 0
	take := func(mvs []*rmq.MessageView) {
		for _, mv := range mvs {
			g := mv.GetMessageGroup()
			if g == nil {
				t.Fatalf("FIFO message without message group: %s", describe(mv))
			}
			got[*g] = append(got[*g], mv)
			total++
		}
	}
	ackAll := func(mvs []*rmq.MessageView) {
		for _, mv := range mvs {
			ack(t, c, mv)
		}
	}

	// While a message group has a message in flight (received, not acked), none of its later
	// messages may be delivered: receive 2, then receive again without acking.
	var first []*rmq.MessageView
	for deadline := time.Now().Add(10 * time.Second); len(first) == 0 && time.Now().Before(deadline); {
		first = receive(t, c, 2)
	}
	if len(first) == 0 || len(first) > 2 {
		t.Fatalf("receive of at most 2 FIFO messages got %d", len(first))
	}
	held := map[string]bool{}
	for _, mv := range first {
		if g := mv.GetMessageGroup(); g != nil {
			held[*g] = true
		}
	}
	take(first)
	second := receive(t, c, 32)
	for _, mv := range second {
		if g := mv.GetMessageGroup(); g != nil && held[*g] {
			t.Errorf("FIFO: %s delivered while an earlier message of its group was in flight (not acked)", describe(mv))
		}
	}
	take(second)
	t.Logf("FIFO: first receive (max 2) got %s; second, unacked, got %s", fifoSummary(first), fifoSummary(second))
	ackAll(first)
	ackAll(second)

	end := time.Now().Add(30 * time.Second)
	for total < len(groups)*perGroup && time.Now().Before(end) {
		mvs := receive(t, c, 32)
		take(mvs)
		ackAll(mvs)
	}
	if total != len(groups)*perGroup {
		t.Errorf("received %d of %d messages within 30 s", total, len(groups)*perGroup)
	}
	checkFifo(t, want, got)
	if !t.Failed() {
		expectEmpty(t, c, "receive after acking all")
	}
}

// pushCollector records what a push consumer's listener got.
type pushCollector struct {
	mu   sync.Mutex
	got  []*rmq.MessageView
	more chan struct{}
}

func newCollector() *pushCollector { return &pushCollector{more: make(chan struct{}, 1024)} }

func (pc *pushCollector) listener() *rmq.FuncMessageListener {
	return &rmq.FuncMessageListener{Consume: func(mv *rmq.MessageView) rmq.ConsumerResult {
		pc.mu.Lock()
		pc.got = append(pc.got, mv)
		pc.mu.Unlock()
		select {
		case pc.more <- struct{}{}:
		default:
		}
		return rmq.SUCCESS
	}}
}

func (pc *pushCollector) snapshot() []*rmq.MessageView {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return append([]*rmq.MessageView(nil), pc.got...)
}

// waitFor waits until n messages were consumed or d passed.
func (pc *pushCollector) waitFor(n int, d time.Duration) []*rmq.MessageView {
	end := time.After(d)
	for {
		if got := pc.snapshot(); len(got) >= n {
			return got
		}
		select {
		case <-pc.more:
		case <-end:
			return pc.snapshot()
		}
	}
}

func startPushConsumer(t *testing.T, b *broker, group, topic string, pc *pushCollector) rmq.PushConsumer {
	t.Helper()
	c, err := rmq.NewPushConsumer(b.config(group),
		rmq.WithPushAwaitDuration(awaitDuration),
		rmq.WithPushSubscriptionExpressions(map[string]*rmq.FilterExpression{topic: rmq.SUB_ALL}),
		rmq.WithPushMessageListener(pc.listener()),
		rmq.WithPushConsumptionThreadCount(4),
		rmq.WithPushMaxCacheMessageCount(256))
	if err != nil {
		t.Fatalf("NewPushConsumer: %v", err)
	}
	if err := within(t, clientStartTimeout, "PushConsumer.Start", c.Start); err != nil {
		t.Fatalf("PushConsumer.Start (group %s): %v", group, err)
	}
	stopQuietly(t, "push consumer", c.GracefulStop, time.Second)
	return c
}

// initGroup makes a new POP group's offsets by one empty receive of a simple consumer of
// the group, which then stops (a new group starts at the end of each queue).
func initGroup(t *testing.T, b *broker, group, topic string) {
	t.Helper()
	c, err := rmq.NewSimpleConsumer(b.config(group),
		rmq.WithSimpleAwaitDuration(awaitDuration),
		rmq.WithSimpleSubscriptionExpressions(map[string]*rmq.FilterExpression{topic: rmq.SUB_ALL}))
	if err != nil {
		t.Fatalf("NewSimpleConsumer: %v", err)
	}
	if err := within(t, clientStartTimeout, "SimpleConsumer.Start", c.Start); err != nil {
		t.Fatalf("SimpleConsumer.Start (group %s): %v", group, err)
	}
	expectEmpty(t, c, "initial receive of the group")
	if err := within(t, 10*time.Second, "SimpleConsumer.GracefulStop", c.GracefulStop); err != nil {
		t.Logf("simple consumer GracefulStop: %v", err)
	}
}

// TestPushConsumer: a push consumer gets every message sent, each once, intact.
func TestPushConsumer(t *testing.T) {
	b := setup(t)
	topic, group := uniq("GoPush"), uniq("GoPushGroup")
	b.createTopic(topic, false)
	b.createGroup(group, false)
	initGroup(t, b, group, topic)

	p := startProducer(t, b, topic)
	const n = 10
	want := map[string]string{}
	for i := 0; i < n; i++ {
		m := &rmq.Message{Topic: topic, Body: []byte(fmt.Sprintf("push %d", i))}
		m.SetTag("P")
		m.SetKeys(fmt.Sprintf("pk-%d", i))
		want[send(t, p, m).MessageID] = string(m.Body)
	}

	pc := newCollector()
	startPushConsumer(t, b, group, topic, pc)
	got := pc.waitFor(n, 20*time.Second)
	// A little longer for duplicates, if any.
	time.Sleep(500 * time.Millisecond)
	got = pc.snapshot()
	seen := map[string]int{}
	for _, mv := range got {
		id := mv.GetMessageId()
		seen[id]++
		body, ok := want[id]
		if !ok {
			t.Errorf("push consumer got a message never sent: %s", describe(mv))
			continue
		}
		if string(mv.GetBody()) != body {
			t.Errorf("%s: body %q, want %q", id, mv.GetBody(), body)
		}
		if tag := mv.GetTag(); tag == nil || *tag != "P" {
			t.Errorf("%s: tag %v, want P", id, tag)
		}
	}
	for id := range want {
		if seen[id] == 0 {
			t.Errorf("message %s never consumed (consumed %d distinct of %d within 20 s)", id, len(seen), n)
		}
	}
	for id, k := range seen {
		if k > 1 {
			t.Errorf("message %s consumed %d times", id, k)
		}
	}
}

// TestFifoPushConsumer: a push consumer of an orderly group on a FIFO topic consumes each
// message group's messages in send order (the server's settings switch the SDK to FIFO).
func TestFifoPushConsumer(t *testing.T) {
	b := setup(t)
	topic, group := uniq("GoFifoPush"), uniq("GoFifoPushGroup")
	b.createTopic(topic, true)
	b.createGroup(group, true)
	initGroup(t, b, group, topic)

	p := startProducer(t, b, topic)
	groups := []string{"fp-a", "fp-b", "fp-c"}
	const perGroup = 5
	want := fifoSend(t, p, topic, groups, perGroup)

	pc := newCollector()
	logFrom := fileSize(sdkLog)
	startPushConsumer(t, b, group, topic, pc)
	// The SDK picks its FIFO consume service from the server's Settings.subscription.fifo,
	// and says so in its log.
	if !sdkLogSince(logFrom, "Create FIFO consume service, consumerGroup="+group) {
		t.Errorf("the push consumer of orderly group %s did not switch to FIFO consumption (server Settings.subscription.fifo not true?)", group)
	}
	all := pc.waitFor(len(groups)*perGroup, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	all = pc.snapshot()
	got := map[string][]*rmq.MessageView{}
	for _, mv := range all {
		g := mv.GetMessageGroup()
		if g == nil {
			t.Fatalf("FIFO message without message group: %s", describe(mv))
		}
		got[*g] = append(got[*g], mv)
	}
	if len(all) != len(groups)*perGroup {
		t.Errorf("consumed %d messages, want %d", len(all), len(groups)*perGroup)
	}
	checkFifo(t, want, got)
}

// TestMissingTopic: a topic that does not exist is TOPIC_NOT_FOUND, and is not created: a
// producer declaring it fails to start, a started producer (of another topic) fails to send
// to it.
func TestMissingTopic(t *testing.T) {
	b := setup(t)
	missing := uniq("GoNoSuchTopic")
	existing := uniq("GoExisting")
	b.createTopic(existing, false)

	t.Run("start", func(t *testing.T) {
		p, err := rmq.NewProducer(b.config(""), rmq.WithTopics(missing))
		if err != nil {
			t.Fatalf("NewProducer: %v", err)
		}
		err = within(t, clientStartTimeout, "Producer.Start", p.Start)
		if err == nil {
			stopQuietly(t, "producer", p.GracefulStop, 5*time.Second)
			t.Fatalf("Producer.Start with missing topic %s succeeded, want TOPIC_NOT_FOUND", missing)
		}
		if !strings.Contains(err.Error(), "TOPIC_NOT_FOUND") {
			t.Errorf("Producer.Start error %q does not say TOPIC_NOT_FOUND", err)
		}
		t.Logf("Producer.Start failed as expected: %v", err)
	})

	t.Run("send", func(t *testing.T) {
		// The Go SDK only opens its Telemetry stream (and so only finishes Start) once it
		// knows a route: a producer with no topic never starts. So declare an existing one.
		p := startProducer(t, b, existing)
		var receipts []*rmq.SendReceipt
		err := within(t, 15*time.Second, "Producer.Send", func() error {
			var err error
			receipts, err = p.Send(context.Background(), &rmq.Message{Topic: missing, Body: []byte("nowhere")})
			return err
		})
		if err == nil {
			t.Fatalf("Send to missing topic %s succeeded: %+v", missing, receipts)
		}
		s, ok := rmq.AsErrRpcStatus(err)
		if !ok && !strings.Contains(err.Error(), "TOPIC_NOT_FOUND") {
			t.Errorf("Send error %q is not TOPIC_NOT_FOUND", err)
		} else if ok && s.GetCode() != int32(v2.Code_TOPIC_NOT_FOUND) {
			t.Errorf("Send error code %d (%s), want TOPIC_NOT_FOUND (%d)", s.GetCode(), s.GetMessage(), v2.Code_TOPIC_NOT_FOUND)
		}
		t.Logf("Send failed as expected: %v", err)
	})

	// Still not there: neither call created it.
	t.Run("not created", func(t *testing.T) {
		p, err := rmq.NewProducer(b.config(""), rmq.WithTopics(missing))
		if err != nil {
			t.Fatalf("NewProducer: %v", err)
		}
		if err := within(t, clientStartTimeout, "Producer.Start", p.Start); err == nil {
			stopQuietly(t, "producer", p.GracefulStop, 5*time.Second)
			t.Fatalf("topic %s exists after the failed start and send (auto-created?)", missing)
		}
	})
}
