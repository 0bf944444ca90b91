package compat

import (
	"testing"

	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// The comparator must reject every kind of mismatch (needs no rocketry binary).
func TestComparatorRejectsDeviations(t *testing.T) {
	const topic, host = "SelfTopic", "127.0.0.1:10911"
	mk := func(seq string) (*sent, func() *primitive.MessageExt) {
		m, s := makeMessage(topic, seq, "TagA", 50)
		s.uniqID, s.queueID, s.queueOffset, s.offsetMsgID = "U-"+seq, 1, 7, "O-"+seq
		return s, func() *primitive.MessageExt {
			e := &primitive.MessageExt{Message: *primitive.NewMessage(topic, append([]byte(nil), m.Body...))}
			e.WithProperties(m.GetProperties())
			e.MsgId, e.OffsetMsgId, e.QueueOffset, e.StoreHost = s.uniqID, s.offsetMsgID, 7, host
			e.Queue = &primitive.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueId: 1}
			return e
		}
	}
	a, da := mk("a")
	b, db := mk("b")
	want := map[string]*sent{"a": a, "b": b}
	check := func(msgs ...*primitive.MessageExt) []string {
		r := &received{bySeq: map[string][]*primitive.MessageExt{}}
		r.add(msgs...)
		return r.problems(want, topic, host)
	}
	if ps := check(da(), db()); len(ps) != 0 {
		t.Fatalf("exact match rejected: %v", ps)
	}
	_, dc := mk("c")
	mutate := func(f func(*primitive.MessageExt)) *primitive.MessageExt { m := db(); f(m); return m }
	cases := map[string][]*primitive.MessageExt{
		"missing":   {da()},
		"extra":     {da(), db(), dc()},
		"duplicate": {da(), db(), db()},
		"body":      {da(), mutate(func(m *primitive.MessageExt) { m.Body[0] ^= 1 })},
		"tags":      {da(), mutate(func(m *primitive.MessageExt) { m.WithTag("TagB") })},
		"keys":      {da(), mutate(func(m *primitive.MessageExt) { m.WithKeys([]string{"k-b"}) })},
		"property":  {da(), mutate(func(m *primitive.MessageExt) { m.WithProperty("greeting", "hello") })},
		"msgId":     {da(), mutate(func(m *primitive.MessageExt) { m.MsgId = "X" })},
		"offset":    {da(), mutate(func(m *primitive.MessageExt) { m.QueueOffset = 8 })},
		"storeHost": {da(), mutate(func(m *primitive.MessageExt) { m.StoreHost = "127.0.0.1:1" })},
	}
	for name, msgs := range cases {
		if ps := check(msgs...); len(ps) == 0 {
			t.Errorf("%s: deviation not detected", name)
		}
	}
}
