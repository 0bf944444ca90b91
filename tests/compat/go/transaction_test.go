package compat

// Transactional messages driven through the official Go client: SEND_MESSAGE (10) with TRAN_MSG
// (a half message), END_TRANSACTION (37, one-way) with the local transaction's state, and the
// broker's check-back CHECK_TRANSACTION_STATE (39) to the producer's connection, which the Go client
// answers with a one-way END_TRANSACTION marked fromTransactionCheck.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// txCheck is one CHECK_TRANSACTION_STATE the producer's listener saw.
type txCheck struct {
	id, topic, body, uniqKey string
}

// txListener decides by the message's "kind" property, and on a check by its "id" property: ending
// in "-c" commits, anything else rolls back.
type txListener struct {
	mu       sync.Mutex
	executed map[string]int
	checks   []txCheck
}

func (l *txListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	l.mu.Lock()
	l.executed[m.GetProperty("id")]++
	l.mu.Unlock()
	switch m.GetProperty("kind") {
	case "commit":
		return primitive.CommitMessageState
	case "rollback":
		return primitive.RollbackMessageState
	default:
		return primitive.UnkonwnState // sic: the Go client's spelling
	}
}

func (l *txListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	id := m.GetProperty("id")
	l.mu.Lock()
	l.checks = append(l.checks, txCheck{id: id, topic: m.Topic, body: string(m.Body),
		uniqKey: m.GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex)})
	l.mu.Unlock()
	if strings.HasSuffix(id, "-c") {
		return primitive.CommitMessageState
	}
	return primitive.RollbackMessageState
}

func (l *txListener) snapshot() (map[string]int, []txCheck) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ex := make(map[string]int, len(l.executed))
	for k, v := range l.executed {
		ex[k] = v
	}
	return ex, append([]txCheck(nil), l.checks...)
}

// txSent is one transactional message as sent, and what the send result said.
type txSent struct {
	id, kind, body, tags, keys string
	msgID                      string // SendResult.MsgID (the UNIQ_KEY)
	halfOffset                 int64  // the half message's CommitLog offset (in SendResult.OffsetMsgID)
	queueID                    int
}

// TestGoTransaction: 4 messages each committed, rolled back and left unknown by the local
// transaction; the broker checks the unknown ones back (after transactionTimeOut = 1 s), and the
// producer commits half of them, rolls back the others. A push consumer gets exactly the committed
// ones (the 4 commits and the 2 checked to commit), each once, with the message id the send result
// gave; only the unknown ones are checked. The rolled-back ones carry ids that a check would commit,
// so a wrong check of one shows up as an unexpected delivery too.
func TestGoTransaction(t *testing.T) {
	start := time.Now()
	e := startConsumeEnv(t, "transactionTimeOut=1000", "transactionCheckInterval=1000")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	topic, group, pgroup := "GoTx_"+e.run, "GoTxCG_"+e.run, "GoTxPG_"+e.run
	e.createTopics(ctx, t, map[string]int{topic: 4})

	l := &txListener{executed: map[string]int{}}
	p, err := rocketmq.NewTransactionProducer(l,
		producer.WithNsResolver(primitive.NewPassthroughResolver(e.ns)),
		producer.WithGroupName(pgroup),
		producer.WithInstanceName("go-tx-producer-"+e.run),
		producer.WithSendMsgTimeout(5*time.Second),
		producer.WithRetry(0), // a retried half message would be a second transaction
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("transaction producer start: %v", err)
	}
	t.Cleanup(func() { p.Shutdown() })

	got := newDelivered()
	e.startPushConsumer(t, topic, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		got.add(msgs...)
		return consumer.ConsumeSuccess, nil
	}, consumer.WithGroupName(group), consumer.WithInstance("go-tx-consumer-"+e.run),
		consumer.WithConsumerModel(consumer.Clustering))

	// Ids: a commit's ends in "-r" and a rollback's in "-c" (a check would decide them the other
	// way); the unknown ones alternate, so half are checked to commit, half to rollback.
	var all []*txSent
	for _, kind := range []string{"commit", "rollback", "unknown"} {
		for i := 0; i < 4; i++ {
			suffix := map[string]string{"commit": "-r", "rollback": "-c"}[kind]
			if kind == "unknown" {
				suffix = []string{"-c", "-r"}[i%2]
			}
			id := fmt.Sprintf("tx-%s-%s-%d%s", e.run, kind, i, suffix)
			all = append(all, &txSent{id: id, kind: kind, body: id + "|" + nonASCII,
				tags: "Tag" + strings.ToUpper(kind[:1]) + kind[1:], keys: "k-" + id + " key2-" + id})
		}
	}
	// Interleave the kinds, so decided and undecided half messages alternate in the half queue.
	sort.SliceStable(all, func(i, j int) bool { return all[i].id[len(all[i].id)-3] < all[j].id[len(all[j].id)-3] })

	// The Go client logs every local transaction state but commit as an error: quiet during the sends.
	rlog.SetLogLevel("fatal")
	byID := map[string]*txSent{}
	var want []string
	for _, s := range all {
		m := primitive.NewMessage(topic, []byte(s.body))
		m.WithTag(s.tags)
		m.WithKeys(strings.Split(s.keys, " "))
		m.WithProperty("id", s.id)
		m.WithProperty("kind", s.kind)
		r, err := p.SendMessageInTransaction(ctx, m)
		if err != nil {
			t.Fatalf("send %s: %v", s.id, err)
		}
		wantState := map[string]primitive.LocalTransactionState{"commit": primitive.CommitMessageState,
			"rollback": primitive.RollbackMessageState, "unknown": primitive.UnkonwnState}[s.kind]
		if r.SendResult == nil || r.Status != primitive.SendOK || r.MessageQueue == nil || r.MessageQueue.BrokerName != consumeBrokerName {
			t.Fatalf("send %s: %v", s.id, r)
		}
		if r.State != wantState {
			t.Errorf("send %s: transaction state %v, want %v", s.id, r.State, wantState)
		}
		uniq := m.GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex)
		if r.MsgID == "" || r.MsgID != uniq {
			t.Errorf("send %s: SendResult.MsgID %q, UNIQ_KEY %q", s.id, r.MsgID, uniq)
		}
		if r.OffsetMsgID == "" {
			t.Errorf("send %s: no offsetMsgId in %v", s.id, r)
		}
		half, err := primitive.UnmarshalMsgID([]byte(r.OffsetMsgID))
		if err != nil {
			t.Errorf("send %s: offsetMsgId %q: %v", s.id, r.OffsetMsgID, err)
		} else {
			s.halfOffset = half.Offset
		}
		s.msgID, s.queueID = r.MsgID, r.MessageQueue.QueueId
		byID[s.id] = s
		if s.kind == "commit" || strings.HasSuffix(s.id, "-c") && s.kind == "unknown" {
			want = append(want, s.body)
		}
	}
	rlog.SetLogLevel("error")
	sentAt := time.Now()
	if t.Failed() {
		t.FailNow()
	}

	if !waitUntil(20*time.Second, func() bool { return got.atLeast(want, 1) }) {
		t.Errorf("the committed messages did not all arrive within 20 s")
	}
	t.Logf("all %d committed messages consumed %v after the last send", len(want), time.Since(sentAt).Round(time.Millisecond))
	// The rolled-back ones must not show up, nor a check of anything but an unknown one: wait
	// a few check intervals more.
	time.Sleep(4 * time.Second)

	snap := got.snapshot()
	ps := exactly(snap, want, 1)
	var notes []string
	for _, s := range all {
		for _, d := range snap[s.body] {
			p := s.id + ": " // prefix of each problem
			if d.Topic != topic {
				ps = append(ps, p+"topic "+d.Topic)
			}
			if d.GetTags() != s.tags || d.GetKeys() != s.keys {
				ps = append(ps, fmt.Sprintf("%stags %q keys %q, sent %q %q", p, d.GetTags(), d.GetKeys(), s.tags, s.keys))
			}
			if d.MsgId != s.msgID {
				ps = append(ps, fmt.Sprintf("%smsgId %s, SendResult.MsgID %s", p, d.MsgId, s.msgID))
			}
			if d.GetProperty("id") != s.id || d.GetProperty("kind") != s.kind {
				ps = append(ps, fmt.Sprintf("%sproperties id %q kind %q", p, d.GetProperty("id"), d.GetProperty("kind")))
			}
			// As the Java broker's committed message (DifferentialTest compares them), the
			// transaction marker stays.
			if v := d.GetProperty(primitive.PropertyTransactionPrepared); v != "true" {
				ps = append(ps, fmt.Sprintf("%s%s=%q, want \"true\" as the Java broker keeps it", p, primitive.PropertyTransactionPrepared, v))
			}
			if d.Queue == nil || d.Queue.QueueId != s.queueID {
				ps = append(ps, fmt.Sprintf("%sreceived from %v, sent to queue %d", p, d.Queue, s.queueID))
			}
			if tv := primitive.GetTransactionValue(int(d.SysFlag)); tv != primitive.TransactionCommitType {
				ps = append(ps, fmt.Sprintf("%ssysFlag %d: transaction bits %d, want COMMIT (%d)", p, d.SysFlag, tv, primitive.TransactionCommitType))
			}
			if d.PreparedTransactionOffset != s.halfOffset {
				// Not asserted: no client reads it. Logged as a known difference.
				notes = append(notes, fmt.Sprintf("%s: preparedTransactionOffset %d, half message at %d", s.id, d.PreparedTransactionOffset, s.halfOffset))
			}
			if d.ReconsumeTimes != 0 {
				ps = append(ps, fmt.Sprintf("%sreconsumeTimes %d", p, d.ReconsumeTimes))
			}
		}
	}

	executed, checks := l.snapshot()
	for _, s := range all {
		if executed[s.id] != 1 {
			ps = append(ps, fmt.Sprintf("%s: local transaction executed %d times", s.id, executed[s.id]))
		}
	}
	checkedTimes := map[string]int{}
	for _, c := range checks {
		checkedTimes[c.id]++
		s, ok := byID[c.id]
		if !ok {
			ps = append(ps, fmt.Sprintf("check of an unknown message: id %q topic %s", c.id, c.topic))
			continue
		}
		if s.kind != "unknown" {
			ps = append(ps, fmt.Sprintf("%s (%s) checked, though its local transaction decided", s.id, s.kind))
		}
		if c.topic != topic || c.body != s.body || c.uniqKey != s.msgID {
			ps = append(ps, fmt.Sprintf("%s checked as topic %s, body %q, UNIQ_KEY %q", s.id, c.topic, c.body, c.uniqKey))
		}
	}
	var checkedIDs []string
	for _, s := range all {
		if s.kind == "unknown" {
			if checkedTimes[s.id] == 0 {
				ps = append(ps, fmt.Sprintf("%s (unknown) never checked", s.id))
			} else if checkedTimes[s.id] > 1 {
				// The producer answered the first check; a second one means the answer was lost.
				ps = append(ps, fmt.Sprintf("%s (unknown) checked %d times, though its first check was answered", s.id, checkedTimes[s.id]))
			}
		}
		if checkedTimes[s.id] > 0 {
			checkedIDs = append(checkedIDs, fmt.Sprintf("%s×%d", s.id, checkedTimes[s.id]))
		}
	}
	t.Logf("checked: %v", checkedIDs)
	if len(notes) > 0 {
		// The Java broker's EndTransactionProcessor stores a commit with preparedTransactionOffset =
		// the half message's CommitLog offset.
		t.Logf("differences from the Java broker (not failing):\n  %s", strings.Join(notes, "\n  "))
	}
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
	failProblems(t, "transaction", ps)
}
