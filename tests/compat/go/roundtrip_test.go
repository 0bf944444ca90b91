// Package compat drives a rocketry binary (env ROCKETRY_BIN) with the official Apache RocketMQ Go
// client (github.com/apache/rocketmq-client-go/v2).
//
// Request codes the Go client exercises here (note the differences from the Java client):
// GET_ROUTEINFO_BY_TOPIC (105, with the TBW102 fallback for auto-create), SEND_MESSAGE (10, the V1
// header with long field names — the Go client does not use SEND_MESSAGE_V2), SEND_BATCH_MESSAGE (320,
// V2 header; the Go client sets no UNIQ_KEY on batched messages), HEARTBEAT (34, Go's JSON: see
// protocol tolerance of null collections), GET_CONSUMER_LIST_BY_GROUP (38), QUERY_CONSUMER_OFFSET (14),
// UPDATE_CONSUMER_OFFSET (15), PULL_MESSAGE (11), UNREGISTER_CLIENT (35).
package compat

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

const nonASCII = "héllo 世界 🚀"

// sent is what was sent, and what the broker said about it.
type sent struct {
	seq         string
	body        []byte
	tags        string
	keys        string
	props       map[string]string
	uniqID      string // "" for batched messages (the Go client sets none)
	queueID     int
	queueOffset int64
	offsetMsgID string
}

func makeMessage(topic, seq, tags string, bodyBytes int) (*primitive.Message, *sent) {
	var b strings.Builder
	b.WriteString(seq + "|" + nonASCII + "|")
	for i := 0; b.Len() < bodyBytes; i++ {
		b.WriteString(strconv.Itoa(i*7919) + "-")
	}
	body := []byte(b.String())
	m := primitive.NewMessage(topic, body)
	if tags != "" {
		m.WithTag(tags)
	}
	keys := []string{"k-" + seq, "ключ-" + seq}
	m.WithKeys(keys)
	props := map[string]string{
		"seq":              seq,
		"greeting":         nonASCII + " " + seq,
		"größe":            strconv.Itoa(bodyBytes),
		"x-Mixed_Case.key": "v=" + seq + ";a:b,c",
	}
	for k, v := range props {
		m.WithProperty(k, v)
	}
	return m, &sent{seq: seq, body: append([]byte(nil), body...), tags: tags, keys: strings.Join(keys, " "), props: props}
}

func tagFor(i int) string {
	return []string{"TagA", "TagB", "TagC", ""}[i%4]
}

type received struct {
	mu    sync.Mutex
	bySeq map[string][]*primitive.MessageExt
	noSeq int
}

func (r *received) add(msgs ...*primitive.MessageExt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		seq := m.GetProperty("seq")
		if seq == "" {
			r.noSeq++
			continue
		}
		r.bySeq[seq] = append(r.bySeq[seq], m)
	}
}

func (r *received) hasAll(want map[string]*sent) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for seq := range want {
		if len(r.bySeq[seq]) == 0 {
			return false
		}
	}
	return true
}

// problems lists every difference between what was sent and what was received (exact set, each once).
func (r *received) problems(want map[string]*sent, topic, storeHost string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ps []string
	if r.noSeq > 0 {
		ps = append(ps, fmt.Sprintf("%d message(s) without a seq property", r.noSeq))
	}
	var missing, extra []string
	for seq := range want {
		if len(r.bySeq[seq]) == 0 {
			missing = append(missing, seq)
		}
	}
	for seq, ms := range r.bySeq {
		s, ok := want[seq]
		if !ok {
			extra = append(extra, seq)
			continue
		}
		if len(ms) > 1 {
			ps = append(ps, fmt.Sprintf("%s delivered %d times", seq, len(ms)))
		}
		m := ms[0]
		p := seq + ": "
		if m.Topic != topic {
			ps = append(ps, p+"topic "+m.Topic)
		}
		if !bytes.Equal(m.Body, s.body) {
			ps = append(ps, fmt.Sprintf("%sbody differs (%d B received, %d B sent)", p, len(m.Body), len(s.body)))
		}
		if m.GetTags() != s.tags {
			ps = append(ps, fmt.Sprintf("%stags %q != %q", p, m.GetTags(), s.tags))
		}
		if m.GetKeys() != s.keys {
			ps = append(ps, fmt.Sprintf("%skeys %q != %q", p, m.GetKeys(), s.keys))
		}
		for k, v := range s.props {
			if got := m.GetProperty(k); got != v {
				ps = append(ps, fmt.Sprintf("%sproperty %q = %q, sent %q", p, k, got, v))
			}
		}
		if s.uniqID != "" && m.MsgId != s.uniqID {
			ps = append(ps, fmt.Sprintf("%smsgId %s != UNIQ_KEY %s", p, m.MsgId, s.uniqID))
		}
		if m.OffsetMsgId != s.offsetMsgID {
			ps = append(ps, fmt.Sprintf("%soffsetMsgId %s != send result's %s", p, m.OffsetMsgId, s.offsetMsgID))
		}
		if m.Queue == nil || m.Queue.QueueId != s.queueID || m.QueueOffset != s.queueOffset {
			ps = append(ps, fmt.Sprintf("%sreceived at %v@%d, send result said queue %d@%d", p, m.Queue, m.QueueOffset, s.queueID, s.queueOffset))
		}
		if m.StoreHost != storeHost {
			ps = append(ps, fmt.Sprintf("%sstoreHost %s != %s", p, m.StoreHost, storeHost))
		}
		if m.ReconsumeTimes != 0 {
			ps = append(ps, fmt.Sprintf("%sreconsumeTimes %d", p, m.ReconsumeTimes))
		}
	}
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

func head(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}

func TestGoClientRoundTrip(t *testing.T) {
	rlog.SetLogLevel("error")
	bin := rocketryBin(t)
	dir := workDir(t)
	ports := freePorts(t, 2)
	// Usage is counted against a fixed capacity, not the host's disk, so a nearly full test
	// machine can neither refuse sends nor trigger forced deletion.
	conf := dir + "/standalone.conf"
	if err := os.WriteFile(conf, []byte("diskCapacityBytes=1099511627776\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startRocketry(t, dir, "standalone", []string{"standalone", "--grpc-port", "0", "--data-dir", dir + "/data", "-c", conf,
		"--namesrv-port", strconv.Itoa(ports[0]), "--broker-port", strconv.Itoa(ports[1])}, ports...)
	t.Logf("binary %s, work dir %s", bin, dir)
	ns := []string{fmt.Sprintf("%s:%d", loopback, ports[0])}
	brokerAddr := fmt.Sprintf("%s:%d", loopback, ports[1])
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	topic := "GoRoundTrip_" + run

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	awaitAutoCreateRoute(ctx, t, ns, "broker-a")

	p, err := producer.NewDefaultProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver(ns)),
		producer.WithGroupName("GoPG_"+run),
		producer.WithInstanceName("go-producer-"+run),
		producer.WithRetry(2),
		producer.WithSendMsgTimeout(5*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("producer start: %v", err)
	}
	defer p.Shutdown()

	want := map[string]*sent{}
	positions := map[string]string{}
	checkPosition := func(s *sent, brokerName string) {
		if brokerName != "broker-a" {
			t.Errorf("%s sent to broker %q", s.seq, brokerName)
		}
		pos := fmt.Sprintf("%d@%d", s.queueID, s.queueOffset)
		if prev, ok := positions[pos]; ok {
			t.Errorf("queue position %s given to both %s and %s", pos, prev, s.seq)
		}
		positions[pos] = s.seq
	}

	// 100 single messages, sync; g-000 has a 10 000-byte body (compressed by the client).
	for i := 0; i < 100; i++ {
		size := 60 + i
		if i == 0 {
			size = 10_000
		}
		m, s := makeMessage(topic, fmt.Sprintf("g-%03d", i), tagFor(i), size)
		r, err := p.SendSync(ctx, m)
		if err != nil {
			t.Fatalf("send %s: %v", s.seq, err)
		}
		if r.Status != primitive.SendOK {
			t.Fatalf("send %s: status %v (%v)", s.seq, r.Status, r)
		}
		s.uniqID = m.GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex)
		if s.uniqID == "" || r.MsgID != s.uniqID {
			t.Fatalf("send %s: SendResult.MsgID %q, UNIQ_KEY %q", s.seq, r.MsgID, s.uniqID)
		}
		if r.OffsetMsgID == "" || r.MessageQueue == nil || r.QueueOffset < 0 {
			t.Fatalf("send %s: incomplete SendResult %v", s.seq, r)
		}
		s.queueID, s.queueOffset, s.offsetMsgID = r.MessageQueue.QueueId, r.QueueOffset, r.OffsetMsgID
		checkPosition(s, r.MessageQueue.BrokerName)
		want[s.seq] = s
	}

	// A batch of 10 in one SendSync (SEND_BATCH_MESSAGE).
	var batch []*primitive.Message
	var batchSent []*sent
	for i := 0; i < 10; i++ {
		m, s := makeMessage(topic, fmt.Sprintf("gb-%02d", i), tagFor(i), 70+i)
		batch = append(batch, m)
		batchSent = append(batchSent, s)
	}
	r, err := p.SendSync(ctx, batch...)
	if err != nil {
		t.Fatalf("batch send: %v", err)
	}
	if r.Status != primitive.SendOK || r.MessageQueue == nil {
		t.Fatalf("batch send: %v", r)
	}
	ids := strings.Split(r.OffsetMsgID, ",")
	if len(ids) != len(batch) {
		t.Fatalf("batch SendResult offsetMsgId must list one id per message (as the Java broker does): %q", r.OffsetMsgID)
	}
	for i, s := range batchSent {
		s.queueID, s.queueOffset, s.offsetMsgID = r.MessageQueue.QueueId, r.QueueOffset+int64(i), ids[i]
		checkPosition(s, r.MessageQueue.BrokerName)
		want[s.seq] = s
	}
	if t.Failed() {
		t.FailNow()
	}

	// Push consumer, clustering, from the first offset. Start fails while the NameServer has no route
	// for the topic yet, so retry that for a while (the broker registers the auto-created topic).
	got := &received{bySeq: map[string][]*primitive.MessageExt{}}
	group := "GoCG_" + run
	var c interface {
		Shutdown() error
	}
	deadline := time.Now().Add(15 * time.Second)
	for attempt := 0; ; attempt++ {
		pc, err := consumer.NewPushConsumer(
			consumer.WithNsResolver(primitive.NewPassthroughResolver(ns)),
			consumer.WithGroupName(group),
			consumer.WithInstance(fmt.Sprintf("go-consumer-%s-%d", run, attempt)),
			consumer.WithConsumerModel(consumer.Clustering),
			consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		)
		if err != nil {
			t.Fatal(err)
		}
		err = pc.Subscribe(topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"},
			func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
				got.add(msgs...)
				return consumer.ConsumeSuccess, nil
			})
		if err != nil {
			t.Fatal(err)
		}
		err = pc.Start()
		if err == nil {
			c = pc
			break
		}
		pc.Shutdown()
		if time.Now().After(deadline) {
			t.Fatalf("push consumer start: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	defer c.Shutdown()

	recvDeadline := time.Now().Add(60 * time.Second)
	for !got.hasAll(want) && ctx.Err() == nil && time.Now().Before(recvDeadline) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // duplicates or strays would show up by now
	if ps := got.problems(want, topic, brokerAddr); len(ps) > 0 {
		t.Fatalf("push consumer: %d problem(s):\n  %s", len(ps), strings.Join(head(ps, 40), "\n  "))
	}
}

// awaitAutoCreateRoute waits until the NameServer routes TBW102 (the auto-create template topic) to
// the broker: its port accepts connections before it has registered, and until then a first send to
// a new topic fails with "route info not found".
func awaitAutoCreateRoute(ctx context.Context, t *testing.T, ns []string, brokerName string) {
	t.Helper()
	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver(ns)))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		mqs, err := adm.FetchPublishMessageQueues(ctx, "TBW102")
		for _, mq := range mqs {
			if mq.BrokerName == brokerName {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("NameServer did not route TBW102 to %s within 15 s (last: %v, %v)", brokerName, mqs, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
