package compat

// Timer messages (RocketMQ 5.x) and delay levels driven through the official Go client: a send
// whose properties carry TIMER_DELIVER_MS (epoch ms), TIMER_DELAY_SEC or TIMER_DELAY_MS is held by
// the broker (in rmq_sys_wheel_timer) and stored in its topic when due; a send with a DELAY level
// goes through the schedule topic as before. Bad timer values are refused with MESSAGE_ILLEGAL (13).

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

const (
	// timerEarlySlack: how much earlier than its due time a message may arrive (clock granularity
	// between this process and the broker, which share the host's clock).
	timerEarlySlack = 50 * time.Millisecond
	// timerLateSlack: how much later than its due time a message may arrive (the broker's delivery,
	// the consumer's long poll woken by the new message, the listener).
	timerLateSlack = 2 * time.Second
)

// timedMsg is one message of TestGoTimerMessages as sent, and when it may arrive.
type timedMsg struct {
	name, body, tag string
	keys            []string
	msg             *primitive.Message
	// The due moment lies in [dueFrom, dueTo]: a relative delay counts from when the broker
	// received the send, which lies between the start and the end of SendSync.
	dueFrom, dueTo time.Time
	msgID          string
	queueID        int
}

// arrival is one delivery to the listener, with when it was handed over.
type arrival struct {
	at time.Time
	m  *primitive.MessageExt
}

// TestGoTimerMessages: a message with TIMER_DELIVER_MS = now + 2.5 s, one with TIMER_DELAY_SEC=2,
// one with TIMER_DELAY_MS=1500, one with delay level 1 (1 s) and a plain one. A push consumer gets
// each exactly once, not before it is due and within 2 s after, with its body, keys, tag, user
// property and message id intact; the plain one at once. Sends with TIMER_DELAY_SEC=-1 (negative),
// 999999 (beyond timerMaxDelaySec = 3 days) and TIMER_DELIVER_MS=soon (not a number) are refused
// with code 13 and never delivered.
func TestGoTimerMessages(t *testing.T) {
	start := time.Now()
	e := startConsumeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	topic, group := "GoTimer_"+e.run, "GoTimerCG_"+e.run
	e.createTopics(ctx, t, map[string]int{topic: 4})

	var mu sync.Mutex
	arrivals := map[string][]arrival{} // body → deliveries
	e.startPushConsumer(t, topic, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		now := time.Now()
		mu.Lock()
		for _, m := range msgs {
			arrivals[string(m.Body)] = append(arrivals[string(m.Body)], arrival{now, m})
		}
		mu.Unlock()
		return consumer.ConsumeSuccess, nil
	}, consumer.WithGroupName(group), consumer.WithInstance("go-timer-"+e.run),
		consumer.WithConsumerModel(consumer.Clustering))
	arrived := func(bodies ...string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range bodies {
			if len(arrivals[b]) == 0 {
				return false
			}
		}
		return true
	}

	// No send retries: a retried send could store a message twice.
	p := e.startProducer(t, "timer", producer.WithRetry(0))

	// A plain message first: once it arrives, the consumer owns every queue and is pulling, so the
	// timed arrivals below measure the broker, not the consumer's start.
	warm := primitive.NewMessage(topic, []byte("timer-"+e.run+"-warmup"))
	if _, err := p.SendSync(ctx, warm); err != nil {
		t.Fatalf("send warm-up: %v", err)
	}
	if !waitUntil(20*time.Second, func() bool { return arrived(string(warm.Body)) }) {
		t.Fatalf("the warm-up message did not arrive within 20 s")
	}
	t.Logf("consumer ready %v after start", time.Since(start).Round(time.Millisecond))

	newMsg := func(name string) *timedMsg {
		tm := &timedMsg{name: name, body: fmt.Sprintf("timer-%s-%s|%s", e.run, name, nonASCII),
			tag: "Tag_" + name, keys: []string{"k-" + name + "-" + e.run, "k2-" + name}}
		tm.msg = primitive.NewMessage(topic, []byte(tm.body))
		tm.msg.WithTag(tm.tag)
		tm.msg.WithKeys(tm.keys)
		tm.msg.WithProperty("kind", name)
		return tm
	}
	// Each entry: the message's name, its properties, and its delay (for an absolute due time,
	// the time itself).
	type plan struct {
		name  string
		set   func(m *primitive.Message, now time.Time) time.Time // sets properties; returns the absolute due time or zero
		delay time.Duration
	}
	plans := []plan{
		{name: "deliverMs", set: func(m *primitive.Message, now time.Time) time.Time {
			at := now.Add(2500 * time.Millisecond)
			m.WithProperty("TIMER_DELIVER_MS", fmt.Sprint(at.UnixMilli()))
			return time.UnixMilli(at.UnixMilli())
		}},
		{name: "delaySec", delay: 2 * time.Second, set: func(m *primitive.Message, _ time.Time) time.Time {
			m.WithProperty("TIMER_DELAY_SEC", "2")
			return time.Time{}
		}},
		{name: "delayMs", delay: 1500 * time.Millisecond, set: func(m *primitive.Message, _ time.Time) time.Time {
			m.WithProperty("TIMER_DELAY_MS", "1500")
			return time.Time{}
		}},
		{name: "level1", delay: time.Second, set: func(m *primitive.Message, _ time.Time) time.Time {
			m.WithDelayTimeLevel(1)
			return time.Time{}
		}},
		{name: "plain", set: func(*primitive.Message, time.Time) time.Time { return time.Time{} }},
	}
	var sent []*timedMsg
	for _, pl := range plans {
		tm := newMsg(pl.name)
		before := time.Now()
		at := pl.set(tm.msg, before)
		r, err := p.SendSync(ctx, tm.msg)
		after := time.Now()
		if err != nil {
			t.Fatalf("send %s: %v", pl.name, err)
		}
		if r.Status != primitive.SendOK || r.MessageQueue == nil || r.MessageQueue.BrokerName != consumeBrokerName {
			t.Fatalf("send %s: %v", pl.name, r)
		}
		uniq := tm.msg.GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex)
		if r.MsgID == "" || r.MsgID != uniq {
			t.Errorf("send %s: SendResult.MsgID %q, UNIQ_KEY %q", pl.name, r.MsgID, uniq)
		}
		tm.msgID, tm.queueID = r.MsgID, r.MessageQueue.QueueId
		if at.IsZero() {
			tm.dueFrom, tm.dueTo = before.Add(pl.delay), after.Add(pl.delay)
		} else {
			tm.dueFrom, tm.dueTo = at, at
		}
		sent = append(sent, tm)
	}
	sentAt := time.Now()

	// Refused sends: each must fail with MESSAGE_ILLEGAL (13), which the Go client reports as an
	// error "CODE: 13, DESC: ...".
	var refusedBodies []string
	var ps []string
	for _, bad := range []struct{ name, key, value string }{
		{"negative", "TIMER_DELAY_SEC", "-1"},
		{"tooFar", "TIMER_DELAY_SEC", "999999"},
		{"notANumber", "TIMER_DELIVER_MS", "soon"},
	} {
		body := fmt.Sprintf("timer-%s-bad-%s", e.run, bad.name)
		refusedBodies = append(refusedBodies, body)
		m := primitive.NewMessage(topic, []byte(body))
		m.WithProperty(bad.key, bad.value)
		r, err := p.SendSync(ctx, m)
		switch {
		case err == nil:
			ps = append(ps, fmt.Sprintf("send with %s=%s accepted: %v", bad.key, bad.value, r))
		case !strings.HasPrefix(err.Error(), "CODE: 13,"):
			ps = append(ps, fmt.Sprintf("send with %s=%s refused with %q, want code 13 (MESSAGE_ILLEGAL)", bad.key, bad.value, err))
		default:
			t.Logf("send with %s=%s refused: %v", bad.key, bad.value, err)
		}
	}

	// Wait until everything arrived, or well past the last due time (so that a late arrival is
	// measured, not just missed).
	var last time.Time
	var want []string
	for _, tm := range sent {
		want = append(want, tm.body)
		if tm.dueTo.After(last) {
			last = tm.dueTo
		}
	}
	if !waitUntil(time.Until(last.Add(timerLateSlack+3*time.Second)), func() bool { return arrived(want...) }) {
		ps = append(ps, "not every message arrived within 5 s after the last due time")
	}
	t.Logf("all arrived %v after the last send", time.Since(sentAt).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // duplicates, or a refused message stored after all, would show up by now

	mu.Lock()
	snap := make(map[string][]arrival, len(arrivals))
	for b, as := range arrivals {
		snap[b] = append([]arrival(nil), as...)
	}
	mu.Unlock()

	for _, tm := range sent {
		as := snap[tm.body]
		p := tm.name + ": " // prefix of each problem
		if len(as) != 1 {
			ps = append(ps, fmt.Sprintf("%sdelivered %d times, want exactly once", p, len(as)))
		}
		for _, a := range as {
			d := a.m
			early, late := tm.dueFrom.Sub(a.at), a.at.Sub(tm.dueTo)
			// Properties the broker may add or keep are logged, not asserted: the Java broker keeps
			// REAL_TOPIC/REAL_QID on a delivered copy, and how it treats DELAY and TIMER_* varies by version.
			t.Logf("%-9s due in [%s, %s], arrived %s (%+dms after the latest due moment); stored %s; TIMER_OUT_MS=%q TIMER_DELIVER_MS=%q DELAY=%q REAL_TOPIC=%q REAL_QID=%q",
				tm.name, tm.dueFrom.Format("15:04:05.000"), tm.dueTo.Format("15:04:05.000"), a.at.Format("15:04:05.000"),
				late.Milliseconds(), time.UnixMilli(d.StoreTimestamp).Format("15:04:05.000"), d.GetProperty("TIMER_OUT_MS"),
				d.GetProperty("TIMER_DELIVER_MS"), d.GetProperty("DELAY"), d.GetProperty("REAL_TOPIC"), d.GetProperty("REAL_QID"))
			if early > timerEarlySlack {
				ps = append(ps, fmt.Sprintf("%sarrived %v before it was due", p, early.Round(time.Millisecond)))
			}
			if late > timerLateSlack {
				ps = append(ps, fmt.Sprintf("%sarrived %v after it was due (allowed %v)", p, late.Round(time.Millisecond), timerLateSlack))
			}
			if d.Topic != topic || d.Queue == nil || d.Queue.Topic != topic {
				ps = append(ps, fmt.Sprintf("%sreceived as topic %s from %v", p, d.Topic, d.Queue))
			} else if d.Queue.QueueId != tm.queueID {
				ps = append(ps, fmt.Sprintf("%sreceived from queue %d, SendResult said queue %d", p, d.Queue.QueueId, tm.queueID))
			}
			if d.GetTags() != tm.tag || d.GetKeys() != strings.Join(tm.keys, primitive.PropertyKeySeparator) {
				ps = append(ps, fmt.Sprintf("%stags %q keys %q, sent %q %q", p, d.GetTags(), d.GetKeys(), tm.tag, tm.keys))
			}
			if d.GetProperty("kind") != tm.name {
				ps = append(ps, fmt.Sprintf("%suser property kind %q", p, d.GetProperty("kind")))
			}
			if d.MsgId != tm.msgID {
				ps = append(ps, fmt.Sprintf("%smsgId %s, SendResult.MsgID %s", p, d.MsgId, tm.msgID))
			}
			if d.ReconsumeTimes != 0 {
				ps = append(ps, fmt.Sprintf("%sreconsumeTimes %d", p, d.ReconsumeTimes))
			}
		}
	}
	var extra []string
	known := map[string]bool{string(warm.Body): true}
	for _, b := range want {
		known[b] = true
	}
	for b, as := range snap {
		if !known[b] {
			extra = append(extra, fmt.Sprintf("%s (×%d)", b, len(as)))
		}
	}
	if n := len(snap[string(warm.Body)]); n != 1 {
		ps = append(ps, fmt.Sprintf("warm-up delivered %d times", n))
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		ps = append(ps, fmt.Sprintf("unexpected deliveries (refused: %v): %v", refusedBodies, extra))
	}
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
	failProblems(t, "timer messages", ps)
}
