package compat

// Consumption features driven through the official Go client: clustering load balancing, broadcasting,
// consumer retry through %RETRY%<group> (CONSUMER_SEND_MSG_BACK, 36, plus the broker's delay levels),
// and orderly consumption (LOCK_BATCH_MQ, 41 / UNLOCK_BATCH_MQ, 42). Every test compares exact message
// sets: each message carries a unique body, and deliveries are counted per body.
//
// Topics are created up front with the admin API (UPDATE_AND_CREATE_TOPIC, 17) with a known number of
// queues, and each test waits until the NameServer routes them before any client uses them.

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

const consumeBrokerName = "broker-a"

// consumeEnv is one `rocketry standalone` with its addresses and a run id for unique names.
type consumeEnv struct {
	dir        string
	ns         []string
	brokerAddr string
	run        string
}

// startConsumeEnv starts `rocketry standalone` with a broker.conf holding extraConf lines.
func startConsumeEnv(t *testing.T, extraConf ...string) *consumeEnv {
	t.Helper()
	rlog.SetLogLevel("error")
	dir := workDir(t)
	ports := freePorts(t, 2)
	// Usage is counted against a fixed capacity, not the host's disk (see TestGoClientRoundTrip).
	lines := append([]string{"diskCapacityBytes=1099511627776"}, extraConf...)
	conf := filepath.Join(dir, "standalone.conf")
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startRocketry(t, dir, "standalone", []string{"standalone", "--grpc-port", "0", "--data-dir", filepath.Join(dir, "data"), "-c", conf,
		"--namesrv-port", strconv.Itoa(ports[0]), "--broker-port", strconv.Itoa(ports[1])}, ports...)
	return &consumeEnv{
		dir:        dir,
		ns:         []string{fmt.Sprintf("%s:%d", loopback, ports[0])},
		brokerAddr: fmt.Sprintf("%s:%d", loopback, ports[1]),
		run:        strconv.FormatInt(time.Now().UnixNano(), 36),
	}
}

// createTopics creates each topic (name → queue count) on the broker with the admin API and waits
// (15 s at most) until the NameServer routes it to the broker with exactly that many write queues.
func (e *consumeEnv) createTopics(ctx context.Context, t *testing.T, topics map[string]int, opts ...admin.AdminOption) {
	t.Helper()
	adm, err := admin.NewAdmin(append([]admin.AdminOption{admin.WithResolver(primitive.NewPassthroughResolver(e.ns))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if len(opts) > 0 {
		// The Go admin client signs a request only after a call that registers its ACL hook
		// (CreateTopic itself does not): this one does, for the credentials in opts.
		if _, err := adm.GetAllSubscriptionGroup(ctx, e.brokerAddr, 5*time.Second); err != nil {
			t.Fatalf("get subscription groups: %v", err)
		}
	}
	for topic, queues := range topics {
		// The Go admin client ignores the response code of UPDATE_AND_CREATE_TOPIC, so success is
		// judged by the route that follows.
		if err := adm.CreateTopic(ctx, admin.WithTopicCreate(topic), admin.WithBrokerAddrCreate(e.brokerAddr),
			admin.WithReadQueueNums(queues), admin.WithWriteQueueNums(queues)); err != nil {
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for topic, queues := range topics {
		for {
			mqs, err := adm.FetchPublishMessageQueues(ctx, topic)
			ids := map[int]bool{}
			for _, mq := range mqs {
				if mq.BrokerName == consumeBrokerName {
					ids[mq.QueueId] = true
				}
			}
			if err == nil && len(mqs) == queues && len(ids) == queues {
				break
			}
			if err == nil && len(mqs) > 0 {
				t.Fatalf("topic %s routed with queues %v, created with %d on %s", topic, mqs, queues, consumeBrokerName)
			}
			if time.Now().After(deadline) {
				t.Fatalf("NameServer did not route topic %s within 15 s (last: %v, %v)", topic, mqs, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func (e *consumeEnv) startProducer(t *testing.T, name string, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	base := []producer.Option{
		producer.WithNsResolver(primitive.NewPassthroughResolver(e.ns)),
		producer.WithGroupName("GoPG_" + name + "_" + e.run),
		producer.WithInstanceName("go-producer-" + name + "-" + e.run),
		producer.WithSendMsgTimeout(5 * time.Second),
	}
	p, err := producer.NewDefaultProducer(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("producer start: %v", err)
	}
	t.Cleanup(func() { p.Shutdown() })
	return p
}

type listener = func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error)

// startPushConsumer starts a push consumer (from the first offset) subscribed to every tag of topic;
// opts add the group, instance and model. It is shut down when the test ends.
func (e *consumeEnv) startPushConsumer(t *testing.T, topic string, f listener, opts ...consumer.Option) rocketmq.PushConsumer {
	t.Helper()
	return e.startSelectingConsumer(t, topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"}, f, opts...)
}

// startSelectingConsumer is startPushConsumer with a selector of its own (tags or SQL92).
func (e *consumeEnv) startSelectingConsumer(t *testing.T, topic string, sel consumer.MessageSelector, f listener, opts ...consumer.Option) rocketmq.PushConsumer {
	t.Helper()
	base := []consumer.Option{
		consumer.WithNsResolver(primitive.NewPassthroughResolver(e.ns)),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	}
	pc, err := consumer.NewPushConsumer(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe(topic, sel, f); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(); err != nil {
		t.Fatalf("push consumer start: %v", err)
	}
	t.Cleanup(func() { pc.Shutdown() })
	return pc
}

// delivered records every delivery, per body.
type delivered struct {
	mu     sync.Mutex
	byBody map[string][]*primitive.MessageExt
}

func newDelivered() *delivered { return &delivered{byBody: map[string][]*primitive.MessageExt{}} }

// add records msgs and returns, per message, how many times its body has now been delivered.
func (d *delivered) add(msgs ...*primitive.MessageExt) []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := make([]int, len(msgs))
	for i, m := range msgs {
		b := string(m.Body)
		d.byBody[b] = append(d.byBody[b], m)
		n[i] = len(d.byBody[b])
	}
	return n
}

// atLeast reports whether every body in want has been delivered at least n times.
func (d *delivered) atLeast(want []string, n int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range want {
		if len(d.byBody[b]) < n {
			return false
		}
	}
	return true
}

func (d *delivered) snapshot() map[string][]*primitive.MessageExt {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := make(map[string][]*primitive.MessageExt, len(d.byBody))
	for b, ms := range d.byBody {
		s[b] = append([]*primitive.MessageExt(nil), ms...)
	}
	return s
}

// exactly lists how the deliveries differ from want, each body delivered exactly times times.
func exactly(got map[string][]*primitive.MessageExt, want []string, times int) []string {
	var ps, missing, extra []string
	wanted := map[string]bool{}
	for _, b := range want {
		wanted[b] = true
		switch n := len(got[b]); {
		case n == 0:
			missing = append(missing, b)
		case n != times:
			ps = append(ps, fmt.Sprintf("%s delivered %d times, want %d", b, n, times))
		}
	}
	for b := range got {
		if !wanted[b] {
			extra = append(extra, b)
		}
	}
	sort.Strings(ps)
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		ps = append(ps, fmt.Sprintf("missing %d of %d: %v", len(missing), len(want), head(missing, 20)))
	}
	if len(extra) > 0 {
		ps = append(ps, fmt.Sprintf("unexpected %d: %v", len(extra), head(extra, 20)))
	}
	return ps
}

// waitUntil polls cond every 100 ms until it holds or timeout passes.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

type position struct {
	queueID int
	offset  int64
}

// sendAll sends msgs one by one (sync) and returns where the broker put each, by body.
func sendAll(ctx context.Context, t *testing.T, p rocketmq.Producer, msgs []*primitive.Message) map[string]position {
	t.Helper()
	pos := map[string]position{}
	for _, m := range msgs {
		r, err := p.SendSync(ctx, m)
		if err != nil {
			t.Fatalf("send %s: %v", m.Body, err)
		}
		if r.Status != primitive.SendOK || r.MessageQueue == nil || r.MessageQueue.BrokerName != consumeBrokerName {
			t.Fatalf("send %s: %v", m.Body, r)
		}
		pos[string(m.Body)] = position{r.MessageQueue.QueueId, r.QueueOffset}
	}
	return pos
}

func failProblems(t *testing.T, what string, ps []string) {
	t.Helper()
	if len(ps) > 0 {
		t.Fatalf("%s: %d problem(s):\n  %s", what, len(ps), strings.Join(head(ps, 40), "\n  "))
	}
}

// TestGoClustering: two push consumers of one group share a 4-queue topic; each message is consumed
// exactly once, each queue by exactly one consumer, two queues each (AllocateByAveragely).
func TestGoClustering(t *testing.T) {
	e := startConsumeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic, group := "GoCluster_"+e.run, "GoClusterCG_"+e.run
	e.createTopics(ctx, t, map[string]int{topic: 4})

	got := newDelivered()
	var mu sync.Mutex
	consumerOf := map[string]string{} // body → consumer that consumed it (first time)
	queuesOf := map[string]map[int]bool{}
	for _, name := range []string{"a", "b"} {
		name := name
		queuesOf[name] = map[int]bool{}
		e.startPushConsumer(t, topic, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			mu.Lock()
			for _, m := range msgs {
				if _, ok := consumerOf[string(m.Body)]; !ok {
					consumerOf[string(m.Body)] = name
				}
				queuesOf[name][m.Queue.QueueId] = true
			}
			mu.Unlock()
			got.add(msgs...)
			return consumer.ConsumeSuccess, nil
		}, consumer.WithGroupName(group), consumer.WithInstance("go-clu-"+name+"-"+e.run),
			consumer.WithConsumerModel(consumer.Clustering))
	}
	// Both consumers are registered (each Start sent its heartbeat); the broker's
	// NOTIFY_CONSUMER_IDS_CHANGED makes the first one give up half its queues. Let that settle before
	// sending, so no queue changes hands while it has messages in flight.
	time.Sleep(3 * time.Second)

	p := e.startProducer(t, "clu", producer.WithRetry(2))
	var msgs []*primitive.Message
	var want []string
	for i := 0; i < 200; i++ {
		body := fmt.Sprintf("clu-%s-%03d", e.run, i)
		m := primitive.NewMessage(topic, []byte(body))
		m.WithKeys([]string{fmt.Sprintf("ck-%03d", i)})
		msgs = append(msgs, m)
		want = append(want, body)
	}
	start := time.Now()
	pos := sendAll(ctx, t, p, msgs)
	if !waitUntil(30*time.Second, func() bool { return got.atLeast(want, 1) }) {
		t.Errorf("not every message consumed within 30 s")
	}
	t.Logf("200 messages consumed %v after the first send", time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // duplicates would show up by now

	snap := got.snapshot()
	dups := 0
	for _, ms := range snap {
		if len(ms) > 1 {
			dups += len(ms) - 1
		}
	}
	t.Logf("duplicates: %d", dups)
	ps := exactly(snap, want, 1)
	for body, ms := range snap {
		w, ok := pos[body]
		if !ok {
			continue
		}
		for _, m := range ms {
			if m.Topic != topic || m.Queue == nil || m.Queue.QueueId != w.queueID || m.QueueOffset != w.offset {
				ps = append(ps, fmt.Sprintf("%s received as %s %v@%d, sent to queue %d@%d", body, m.Topic, m.Queue, m.QueueOffset, w.queueID, w.offset))
			}
		}
	}
	mu.Lock()
	owner := map[int][]string{}
	for name, qs := range queuesOf {
		var ids []int
		for q := range qs {
			owner[q] = append(owner[q], name)
			ids = append(ids, q)
		}
		sort.Ints(ids)
		t.Logf("consumer %s consumed from queues %v", name, ids)
		if len(ids) != 2 {
			ps = append(ps, fmt.Sprintf("consumer %s consumed from queues %v, want 2 of the 4", name, ids))
		}
	}
	count := map[string]int{}
	for _, c := range consumerOf {
		count[c]++
	}
	mu.Unlock()
	t.Logf("messages per consumer: %v", count)
	for q, names := range owner {
		if len(names) != 1 {
			ps = append(ps, fmt.Sprintf("queue %d consumed by %v", q, names))
		}
	}
	failProblems(t, "clustering", ps)
}

// TestGoBroadcast: two push consumers of one group in broadcasting mode each receive every message
// (half sent before they start, half after), each exactly once.
func TestGoBroadcast(t *testing.T) {
	e := startConsumeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic, group := "GoBroadcast_"+e.run, "GoBroadcastCG_"+e.run
	e.createTopics(ctx, t, map[string]int{topic: 4})
	// Broadcasting consumers keep their offsets in local files, under <dir>/<group>/<clientID> (the
	// Go client's argument order); the group is unique, so remove that directory afterwards.
	offsetDir := os.Getenv("rocketmq.client.localOffsetStoreDir")
	if offsetDir == "" {
		offsetDir = filepath.Join(os.Getenv("HOME"), ".rocketmq_client_go")
	}
	t.Cleanup(func() {
		os.RemoveAll(filepath.Join(offsetDir, group))
		os.Remove(offsetDir) // only if empty
	})

	const n = 100
	var msgs []*primitive.Message
	var want []string
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("bc-%s-%03d", e.run, i)
		m := primitive.NewMessage(topic, []byte(body))
		m.WithKeys([]string{fmt.Sprintf("bk-%03d", i)})
		msgs = append(msgs, m)
		want = append(want, body)
	}
	p := e.startProducer(t, "bc", producer.WithRetry(2))
	pos := sendAll(ctx, t, p, msgs[:n/2])

	names := []string{"a", "b"}
	got := map[string]*delivered{}
	for _, name := range names {
		d := newDelivered()
		got[name] = d
		e.startPushConsumer(t, topic, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			d.add(msgs...)
			return consumer.ConsumeSuccess, nil
		}, consumer.WithGroupName(group), consumer.WithInstance("go-bc-"+name+"-"+e.run),
			consumer.WithConsumerModel(consumer.BroadCasting))
	}
	for b, w := range sendAll(ctx, t, p, msgs[n/2:]) {
		pos[b] = w
	}
	if !waitUntil(30*time.Second, func() bool { return got["a"].atLeast(want, 1) && got["b"].atLeast(want, 1) }) {
		t.Errorf("not every message reached both consumers within 30 s")
	}
	time.Sleep(2 * time.Second) // duplicates would show up by now
	var ps []string
	for _, name := range names {
		snap := got[name].snapshot()
		for _, problem := range exactly(snap, want, 1) {
			ps = append(ps, "consumer "+name+": "+problem)
		}
		for body, ms := range snap {
			w, ok := pos[body]
			if !ok {
				continue
			}
			for _, m := range ms {
				if m.Topic != topic || m.Queue == nil || m.Queue.QueueId != w.queueID || m.QueueOffset != w.offset {
					ps = append(ps, fmt.Sprintf("consumer %s: %s received as %s %v@%d, sent to queue %d@%d", name, body, m.Topic, m.Queue, m.QueueOffset, w.queueID, w.offset))
				}
			}
		}
	}
	failProblems(t, "broadcasting", ps)
}

// TestGoRetry: the listener asks for a retry (ConsumeRetryLater) on the first two deliveries of each
// message; the client sends it back (CONSUMER_SEND_MSG_BACK), the broker stores it in %RETRY%<group>
// after a delay level (1 s each here), and the consumer gets it again: three deliveries per message,
// the last one with the original topic and reconsumeTimes 2.
func TestGoRetry(t *testing.T) {
	e := startConsumeEnv(t, "messageDelayLevel=1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic, group := "GoRetry_"+e.run, "GoRetryCG_"+e.run
	retryTopic := "%RETRY%" + group
	// The broker creates %RETRY%<group> on the consumer's heartbeat too, but the Go client looks up
	// routes only at start and then every 30 s, so it might not see that topic for 30 s. Creating it
	// first (1 queue, as the broker would) lets the client pull it from the start.
	e.createTopics(ctx, t, map[string]int{topic: 4, retryTopic: 1})

	got := newDelivered()
	e.startPushConsumer(t, topic, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		counts := got.add(msgs...)
		for _, c := range counts {
			if c <= 2 {
				return consumer.ConsumeRetryLater, nil
			}
		}
		return consumer.ConsumeSuccess, nil
	}, consumer.WithGroupName(group), consumer.WithInstance("go-retry-"+e.run),
		consumer.WithConsumerModel(consumer.Clustering), consumer.WithConsumeMessageBatchMaxSize(1))

	p := e.startProducer(t, "retry", producer.WithRetry(2))
	var msgs []*primitive.Message
	var want []string
	for i := 0; i < 5; i++ {
		body := fmt.Sprintf("retry-%s-%d", e.run, i)
		m := primitive.NewMessage(topic, []byte(body))
		m.WithKeys([]string{fmt.Sprintf("rk-%d", i)})
		m.WithTag("TagR")
		msgs = append(msgs, m)
		want = append(want, body)
	}
	start := time.Now()
	pos := sendAll(ctx, t, p, msgs)
	if !waitUntil(40*time.Second, func() bool { return got.atLeast(want, 3) }) {
		t.Errorf("not every message delivered 3 times within 40 s")
	}
	t.Logf("every message delivered 3 times %v after the first send", time.Since(start).Round(time.Millisecond))
	time.Sleep(3 * time.Second) // a fourth delivery (a retry of a success) would show up by now

	snap := got.snapshot()
	ps := exactly(snap, want, 3)
	for _, m := range msgs {
		body := string(m.Body)
		ds := snap[body]
		w := pos[body]
		for i, d := range ds {
			p := fmt.Sprintf("%s delivery %d: ", body, i+1) // prefix of each problem
			if d.Topic != topic {
				ps = append(ps, p+"topic "+d.Topic)
			}
			if d.ReconsumeTimes != int32(i) {
				ps = append(ps, fmt.Sprintf("%sreconsumeTimes %d, want %d", p, d.ReconsumeTimes, i))
			}
			if d.GetTags() != "TagR" || d.GetKeys() != m.GetKeys() {
				ps = append(ps, fmt.Sprintf("%stags %q keys %q", p, d.GetTags(), d.GetKeys()))
			}
			if d.MsgId != ds[0].MsgId {
				ps = append(ps, fmt.Sprintf("%smsgId %s, first delivery had %s", p, d.MsgId, ds[0].MsgId))
			}
			if i == 0 {
				if d.Queue == nil || d.Queue.Topic != topic || d.Queue.QueueId != w.queueID || d.QueueOffset != w.offset {
					ps = append(ps, fmt.Sprintf("%sfrom %v@%d, sent to queue %d@%d", p, d.Queue, d.QueueOffset, w.queueID, w.offset))
				}
				continue
			}
			// A redelivery comes from the retry topic, and is the broker's copy of the original: same
			// born timestamp (the client's fallback, a plain send to %RETRY%, would stamp a new one).
			if d.Queue == nil || d.Queue.Topic != retryTopic {
				ps = append(ps, fmt.Sprintf("%spulled from %v, want %s", p, d.Queue, retryTopic))
			}
			if rt := d.GetProperty(primitive.PropertyRetryTopic); rt != topic {
				ps = append(ps, fmt.Sprintf("%sRETRY_TOPIC %q", p, rt))
			}
			if d.BornTimestamp != ds[0].BornTimestamp {
				ps = append(ps, fmt.Sprintf("%sbornTimestamp %d, original %d", p, d.BornTimestamp, ds[0].BornTimestamp))
			}
			if d.StoreTimestamp < ds[i-1].StoreTimestamp+900 {
				ps = append(ps, fmt.Sprintf("%sstored at %d, only %d ms after the previous delivery's copy (delay level 1 s)", p, d.StoreTimestamp, d.StoreTimestamp-ds[i-1].StoreTimestamp))
			}
		}
	}
	failProblems(t, "retry", ps)
}

// keyHashSelector sends every message with the same "okey" property to the same queue.
type keyHashSelector struct{}

func queueForKey(key string, queues int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(queues))
}

func (keyHashSelector) Select(m *primitive.Message, mqs []*primitive.MessageQueue, _ string) *primitive.MessageQueue {
	q := queueForKey(m.GetProperty("okey"), len(mqs))
	for _, mq := range mqs {
		if mq.QueueId == q {
			return mq
		}
	}
	return nil
}

// TestGoOrderly: 300 messages over 10 keys, each key's messages to one queue (hash of the key); an
// orderly push consumer (which locks its queues with LOCK_BATCH_MQ) gets each key's messages in
// sending order, every message once.
func TestGoOrderly(t *testing.T) {
	e := startConsumeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const queues, keys, total = 4, 10, 300
	topic, group := "GoOrderly_"+e.run, "GoOrderlyCG_"+e.run
	e.createTopics(ctx, t, map[string]int{topic: queues})

	var msgs []*primitive.Message
	var want []string
	for i := 0; i < total; i++ {
		key, seq := fmt.Sprintf("okey-%d", i%keys), i/keys
		body := fmt.Sprintf("ord-%s-%s-%02d", e.run, key, seq)
		m := primitive.NewMessage(topic, []byte(body))
		m.WithKeys([]string{key})
		m.WithProperty("okey", key)
		m.WithProperty("oseq", strconv.Itoa(seq))
		msgs = append(msgs, m)
		want = append(want, body)
	}
	// No send retries: a retried send could store a message twice or out of order.
	p := e.startProducer(t, "ord", producer.WithRetry(0), producer.WithQueueSelector(keyHashSelector{}))
	pos := sendAll(ctx, t, p, msgs[:total/2])

	got := newDelivered()
	var mu sync.Mutex
	order := map[string][]int{} // key → seqs in consumption order
	var bad []string
	e.startPushConsumer(t, topic, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			key := m.GetProperty("okey")
			seq, err := strconv.Atoi(m.GetProperty("oseq"))
			if key == "" || err != nil {
				bad = append(bad, fmt.Sprintf("%s: okey %q oseq %q", m.Body, key, m.GetProperty("oseq")))
				continue
			}
			order[key] = append(order[key], seq)
		}
		got.add(msgs...)
		return consumer.ConsumeSuccess, nil
	}, consumer.WithGroupName(group), consumer.WithInstance("go-ord-"+e.run),
		consumer.WithConsumerModel(consumer.Clustering), consumer.WithConsumerOrder(true),
		consumer.WithRebalanceLockInterval(5*time.Second))

	for b, w := range sendAll(ctx, t, p, msgs[total/2:]) {
		pos[b] = w
	}
	start := time.Now()
	if !waitUntil(40*time.Second, func() bool { return got.atLeast(want, 1) }) {
		t.Errorf("not every message consumed within 40 s")
	}
	t.Logf("all %d messages consumed %v after the last send", total, time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // duplicates would show up by now

	snap := got.snapshot()
	ps := exactly(snap, want, 1)
	used := map[int][]string{}
	for _, m := range msgs {
		body, key := string(m.Body), m.GetProperty("okey")
		w := pos[body]
		if q := queueForKey(key, queues); w.queueID != q {
			ps = append(ps, fmt.Sprintf("%s sent to queue %d, selector chose %d", body, w.queueID, q))
		}
		for _, d := range snap[body] {
			if d.Topic != topic || d.Queue == nil || d.Queue.QueueId != w.queueID || d.QueueOffset != w.offset {
				ps = append(ps, fmt.Sprintf("%s received as %s %v@%d, sent to queue %d@%d", body, d.Topic, d.Queue, d.QueueOffset, w.queueID, w.offset))
			}
		}
	}
	mu.Lock()
	ps = append(ps, bad...)
	for k := 0; k < keys; k++ {
		key := fmt.Sprintf("okey-%d", k)
		seqs := order[key]
		q := queueForKey(key, queues)
		used[q] = append(used[q], key)
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				ps = append(ps, fmt.Sprintf("%s (queue %d): consumed out of order: %v", key, q, seqs))
				break
			}
		}
		if len(seqs) != total/keys {
			ps = append(ps, fmt.Sprintf("%s: %d messages consumed, want %d", key, len(seqs), total/keys))
		}
	}
	mu.Unlock()
	t.Logf("keys per queue: %v", used)
	failProblems(t, "orderly", ps)
}

// TestGoSql92: a push consumer with the Go client's SQL92 selector gets exactly the messages
// whose properties (and TAGS) the expression selects.
func TestGoSql92(t *testing.T) {
	e := startConsumeEnv(t, "enablePropertyFilter=true")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic, group := "GoSql_"+e.run, "GoSqlCG_"+e.run
	e.createTopics(ctx, t, map[string]int{topic: 4})
	var msgs []*primitive.Message
	var want []string
	for i := 0; i < 40; i++ {
		body := fmt.Sprintf("sql-%s-%02d", e.run, i)
		m := primitive.NewMessage(topic, []byte(body))
		tag := "A"
		if i%2 == 1 {
			tag = "B"
		}
		m.WithTag(tag)
		m.WithProperty("n", fmt.Sprint(i))
		msgs = append(msgs, m)
		if i >= 20 && tag == "B" {
			want = append(want, body)
		}
	}
	p := e.startProducer(t, "sql", producer.WithRetry(2))
	sendAll(ctx, t, p, msgs)
	d := newDelivered()
	e.startSelectingConsumer(t, topic, consumer.MessageSelector{Type: consumer.SQL92, Expression: "n >= 20 AND TAGS = 'B'"}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		d.add(msgs...)
		return consumer.ConsumeSuccess, nil
	}, consumer.WithGroupName(group))
	if !waitUntil(30*time.Second, func() bool { return d.atLeast(want, 1) }) {
		t.Errorf("the SQL92 matches did not all arrive within 30 s")
	}
	time.Sleep(2 * time.Second)
	failProblems(t, "sql92", exactly(d.snapshot(), want, 1))
}

// TestGoAcl: the official Go client signs its requests with credentials (ACL 2.0, AclClientRPCHook's
// scheme): a producer and a push consumer with a user's credentials work against a broker with
// authentication and authorization on; a wrong secret and no credentials are refused (16) and store nothing.
func TestGoAcl(t *testing.T) {
	e := startConsumeEnv(t, "grpcServerEnable=false", "authenticationEnabled=true", "authorizationEnabled=true",
		`initAuthenticationUser={"username":"gouser","password":"goSecret1"}`)
	creds := primitive.Credentials{AccessKey: "gouser", SecretKey: "goSecret1"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic, group := "GoAcl_"+e.run, "GoAclCG_"+e.run
	e.createTopics(ctx, t, map[string]int{topic: 2}, admin.WithCredentials(creds))
	var msgs []*primitive.Message
	var want []string
	for i := 0; i < 10; i++ {
		body := fmt.Sprintf("acl-%s-%02d", e.run, i)
		msgs = append(msgs, primitive.NewMessage(topic, []byte(body)))
		want = append(want, body)
	}
	p := e.startProducer(t, "acl", producer.WithCredentials(creds), producer.WithRetry(2))
	sendAll(ctx, t, p, msgs)
	for _, c := range []struct {
		name   string
		opts   []producer.Option
		remark string
	}{
		{"wrong-secret", []producer.Option{producer.WithCredentials(primitive.Credentials{AccessKey: "gouser", SecretKey: "wrong"})}, "check signature failed."},
		{"unknown-user", []producer.Option{producer.WithCredentials(primitive.Credentials{AccessKey: "nobody", SecretKey: "x"})}, "User:nobody is not found."},
		{"anonymous", nil, "username cannot be null."},
	} {
		bad := e.startProducer(t, "acl-"+c.name, append(c.opts, producer.WithRetry(0))...)
		_, err := bad.SendSync(ctx, primitive.NewMessage(topic, []byte("refused-"+c.name)))
		if err == nil || !strings.Contains(err.Error(), c.remark) {
			t.Errorf("%s: want a refusal with %q, got %v", c.name, c.remark, err)
		}
	}
	d := newDelivered()
	e.startPushConsumer(t, topic, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		d.add(msgs...)
		return consumer.ConsumeSuccess, nil
	}, consumer.WithGroupName(group), consumer.WithCredentials(creds))
	if !waitUntil(30*time.Second, func() bool { return d.atLeast(want, 1) }) {
		t.Errorf("the signed messages did not all arrive within 30 s")
	}
	time.Sleep(time.Second)
	failProblems(t, "acl", exactly(d.snapshot(), want, 1))
}
