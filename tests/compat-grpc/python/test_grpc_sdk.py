"""The official RocketMQ 5.x Python SDK (rocketmq-python-client 5.1.2) against rocketry's gRPC
port (apache.rocketmq.v2.MessagingService), plaintext, through the SDK's public API only.
(The same over TLS: test_tls.py.)"""

import threading
import time

import pytest
from rocketmq import (ConsumeResult, FilterExpression, MessageListener, Producer,
                      PushConsumer, SimpleConsumer)

from sdk import (AWAIT_S, INVISIBLE_S, config, message, prime_group, receive_until,
                 start_producer, start_simple_consumer, unique)

NORMAL, FIFO = 1, 2  # Message.message_type codes


def assert_no_more(consumer):
    extra = consumer.receive(32, INVISIBLE_S)
    assert extra == [], (
        "a receive after everything was acked returned "
        + ", ".join(f"{m.message_id} (attempt {m.delivery_attempt}, tag {m.tag})" for m in extra))


def test_send_receive_ack_with_tag_filter(broker, clients, sdk_log_mark):
    """Producer.send x10 (tag, key, user properties); SimpleConsumer with a tag filter gets
    exactly those, with every field intact, acks them, and then gets nothing."""
    topic = broker.create_topic(unique("py_normal"))
    group = broker.create_group(unique("py_simple"))
    consumer = start_simple_consumer(broker, clients, group, topic, tag="TagA")
    prime_group(consumer)
    producer = start_producer(broker, clients, [topic])

    sent = {}
    for i in range(10):
        body = f"hello {i} \u00e9\u4e2d".encode()
        r = producer.send(message(topic, body, tag="TagA", key=f"key-{i}",
                                  props={"seq": str(i), "origin": "python-\u00e9"}))
        assert r.message_id, "the send receipt has no message id"
        assert r.message_id not in sent, f"two sends got the same message id {r.message_id}"
        assert isinstance(r.offset, int) and r.offset >= 0, f"send receipt offset {r.offset!r}"
        sent[r.message_id] = (i, body)
    # Another tag on the same topic: the subscription's filter must keep it away.
    r_other = producer.send(message(topic, b"not for TagA", tag="TagB", key="key-b"))

    got = receive_until(consumer, len(sent))
    by_id = {m.message_id: m for m in got}
    assert r_other.message_id not in by_id, "a TagB message passed the TagA filter"
    assert len(got) == len(by_id), f"a message was delivered twice: {[m.message_id for m in got]}"
    assert set(by_id) == set(sent), (
        f"missing {sorted(set(sent) - set(by_id))}, unexpected {sorted(set(by_id) - set(sent))}")
    for mid, (i, body) in sent.items():
        m = by_id[mid]
        assert m.topic == topic
        assert m.body == body
        assert m.tag == "TagA"
        assert m.keys == {f"key-{i}"}
        assert m.properties == {"seq": str(i), "origin": "python-\u00e9"}
        assert m.message_type == NORMAL
        assert m.delivery_attempt == 1
        assert not m.corrupted, f"body digest of {mid} did not match its body"
        assert m.born_timestamp and m.born_timestamp > 0
        assert m.born_host
        assert m.receipt_handle
    log = sdk_log_mark()
    assert "body_check_sum" not in log and "unsupported message body digest" not in log, \
        "the SDK could not check a body digest: " + "; ".join(
            l for l in log.splitlines() if "body_check_sum" in l or "body digest" in l)[:2000]
    assert_no_more(consumer)


def test_send_async(broker, clients):
    """Producer.send_async: each future gives a receipt; SimpleConsumer.receive_async gets
    exactly those ids."""
    topic = broker.create_topic(unique("py_async"))
    group = broker.create_group(unique("py_async_g"))
    consumer = start_simple_consumer(broker, clients, group, topic)
    prime_group(consumer)
    producer = start_producer(broker, clients, [topic])

    futures = [producer.send_async(message(topic, f"async {i}".encode(), tag="Async", key=f"ak-{i}"))
               for i in range(8)]
    receipts = [f.result(timeout=10) for f in futures]
    ids = {r.message_id: i for i, r in enumerate(receipts)}
    assert len(ids) == 8 and all(ids), f"bad receipts: {[str(r) for r in receipts]}"

    # receive_async as well (the SDK's ack_async returns no future, so acks are sync)
    got = []
    end = time.monotonic() + 20
    while len(got) < 8 and time.monotonic() < end:
        batch = consumer.receive_async(32, INVISIBLE_S).result(timeout=AWAIT_S + 10)
        for m in batch:
            consumer.ack(m)
        got += batch
    assert sorted(m.message_id for m in got) == sorted(ids)
    for m in got:
        assert m.body == f"async {ids[m.message_id]}".encode()
        assert m.tag == "Async"
    assert_no_more(consumer)


def test_change_invisible_duration_redelivers(broker, clients):
    """change_invisible_duration(msg, 1 s): the message comes back with delivery attempt 2,
    and an ack of that delivery ends it."""
    topic = broker.create_topic(unique("py_nack"))
    group = broker.create_group(unique("py_nack_g"))
    consumer = start_simple_consumer(broker, clients, group, topic)
    prime_group(consumer)
    producer = start_producer(broker, clients, [topic])
    r = producer.send(message(topic, b"retry me", tag="T"))

    first = receive_until(consumer, 1, ack=False)
    assert [m.message_id for m in first] == [r.message_id]
    assert first[0].delivery_attempt == 1
    old_handle = first[0].receipt_handle
    consumer.change_invisible_duration(first[0], 1)
    assert first[0].receipt_handle and first[0].receipt_handle != old_handle, \
        "ChangeInvisibleDuration answered no new receipt handle"

    t0 = time.monotonic()
    again = receive_until(consumer, 1, deadline_s=15, ack=False)
    assert [m.message_id for m in again] == [r.message_id], \
        f"not redelivered within 15 s of ChangeInvisibleDuration(1 s): {[m.message_id for m in again]}"
    assert again[0].delivery_attempt == 2
    assert again[0].body == b"retry me"
    assert time.monotonic() - t0 < 12, "redelivered, but long after the 1 s invisible time"
    consumer.ack(again[0])
    assert_no_more(consumer)


def test_ack_with_handle_from_change_invisible_duration(broker, clients):
    """Extending a message's invisible time, then acking with the handle that answer gave:
    the message is not delivered again once the first invisible time is over."""
    topic = broker.create_topic(unique("py_extend"))
    group = broker.create_group(unique("py_extend_g"))
    consumer = start_simple_consumer(broker, clients, group, topic)
    prime_group(consumer)
    producer = start_producer(broker, clients, [topic])
    r = producer.send(message(topic, b"extend me"))

    got = []
    end = time.monotonic() + 15
    while not got and time.monotonic() < end:
        got = consumer.receive(1, 10)  # the shortest invisible time the broker takes
    assert [m.message_id for m in got] == [r.message_id]
    received_at = time.monotonic()
    consumer.change_invisible_duration(got[0], 12)
    consumer.ack(got[0])  # with the handle ChangeInvisibleDuration answered
    late = []
    while time.monotonic() < received_at + 14:
        late += consumer.receive(32, INVISIBLE_S)
    assert late == [], (
        "acked (with the changed handle) but delivered again: "
        + ", ".join(f"{m.message_id} attempt {m.delivery_attempt}" for m in late))


def test_fifo_simple_consumer_keeps_group_order(broker, clients):
    """FIFO topic, orderly group: messages of 3 message groups, interleaved, each group's
    messages arrive in the order sent."""
    topic = broker.create_topic(unique("py_fifo"), fifo=True)
    group = broker.create_group(unique("py_fifo_g"), orderly=True)
    consumer = start_simple_consumer(broker, clients, group, topic)
    prime_group(consumer)
    producer = start_producer(broker, clients, [topic])

    groups, per_group = ["order-a", "order-b", "order-c"], 5
    sent = {}
    for seq in range(per_group):
        for g in groups:
            r = producer.send(message(topic, f"{g}:{seq}".encode(), tag="F", group=g))
            sent[r.message_id] = (g, seq)

    got = receive_until(consumer, len(sent))
    assert sorted(m.message_id for m in got) == sorted(sent), "not exactly the sent set"
    seen = {g: [] for g in groups}
    for m in got:
        g, seq = sent[m.message_id]
        assert m.message_group == g
        assert m.message_type == FIFO
        assert m.body == f"{g}:{seq}".encode()
        seen[g].append(seq)
    for g in groups:
        assert seen[g] == list(range(per_group)), f"message group {g} arrived out of order: {seen[g]}"
    assert_no_more(consumer)


class Collector(MessageListener):
    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []
        self.changed = threading.Condition(self.lock)

    def consume(self, message):
        with self.lock:
            self.messages.append(message)
            self.changed.notify_all()
        return ConsumeResult.SUCCESS

    def wait_for(self, n, timeout):
        end = time.monotonic() + timeout
        with self.lock:
            while len(self.messages) < n and time.monotonic() < end:
                self.changed.wait(end - time.monotonic())
            return list(self.messages)


def prime_with_simple_consumer(broker, group, topic):
    """Pins a new group's start (see prime_group) before a push consumer, whose first receive
    cannot be awaited through the API, joins it."""
    c = SimpleConsumer(config(broker), group, {topic: FilterExpression()}, await_duration=AWAIT_S)
    c.startup()
    try:
        prime_group(c)
    finally:
        c.shutdown()


def start_push_consumer(broker, clients, group, topic, listener):
    """A started push consumer of `group` on `topic`, after its group was primed."""
    prime_with_simple_consumer(broker, group, topic)
    consumer = PushConsumer(config(broker), group, listener, {topic: FilterExpression()})
    clients.append(consumer)
    consumer.startup()
    return consumer


def test_push_consumer_receives_all(broker, clients):
    topic = broker.create_topic(unique("py_push"))
    group = broker.create_group(unique("py_push_g"))
    listener = Collector()
    consumer = start_push_consumer(broker, clients, group, topic, listener)
    assert consumer.fifo is False, "the server's Settings turned on FIFO for a group that is not orderly"
    producer = start_producer(broker, clients, [topic])

    sent = {}
    for i in range(10):
        r = producer.send(message(topic, f"push {i}".encode(), tag="P", key=f"pk-{i}", props={"i": str(i)}))
        sent[r.message_id] = i
    got = listener.wait_for(len(sent), timeout=20)
    assert {m.message_id for m in got} == set(sent), (
        f"push consumer got {len(got)} of {len(sent)}: missing {sorted(set(sent) - {m.message_id for m in got})}")
    for m in got:
        i = sent[m.message_id]
        assert m.body == f"push {i}".encode()
        assert m.tag == "P" and m.keys == {f"pk-{i}"} and m.properties == {"i": str(i)}
        assert m.delivery_attempt == 1
        assert not m.corrupted
    time.sleep(1)
    assert len(listener.messages) == len(sent), "push consumer got a message twice"


class OrderRecorder(Collector):
    def consume(self, message):
        time.sleep(0.01)  # gives a non-FIFO consumption the chance to reorder
        return super().consume(message)


def test_push_consumer_fifo_keeps_group_order(broker, clients):
    """An orderly group turns on FIFO consumption in the push consumer (server Settings):
    each message group is consumed in order."""
    topic = broker.create_topic(unique("py_pfifo"), fifo=True)
    group = broker.create_group(unique("py_pfifo_g"), orderly=True)
    listener = OrderRecorder()
    consumer = start_push_consumer(broker, clients, group, topic, listener)
    assert consumer.fifo is True, "the server's Settings did not turn on FIFO (subscription.fifo) for an orderly group"
    producer = start_producer(broker, clients, [topic])

    groups, per_group = ["pa", "pb"], 8
    sent = {}
    for seq in range(per_group):
        for g in groups:
            r = producer.send(message(topic, f"{g}:{seq}".encode(), group=g))
            sent[r.message_id] = (g, seq)
    got = listener.wait_for(len(sent), timeout=25)
    assert sorted(m.message_id for m in got) == sorted(sent), f"got {len(got)} of {len(sent)}"
    for g in groups:
        seqs = [sent[m.message_id][1] for m in got if sent[m.message_id][0] == g]
        assert seqs == list(range(per_group)), f"message group {g} consumed out of order: {seqs}"


def test_producer_on_missing_topic_fails(broker, clients, sdk_log_mark):
    """QueryRoute of a topic that does not exist answers TOPIC_NOT_FOUND and creates nothing.
    The 5.1.2 SDK's Producer.startup only logs a failed route (Java's throws), so the failure
    shows on the first send, which queries the route again."""
    topic = unique("py_missing")
    producer = Producer(config(broker), [topic])
    clients.append(producer)
    try:
        producer.startup()
    except Exception:
        pass  # failing at start is right as well
    else:
        with pytest.raises(Exception) as e:
            producer.send(message(topic, b"nowhere"))
        assert topic in str(e.value)
    log = sdk_log_mark()
    assert "40402" in log, f"the SDK logged no TOPIC_NOT_FOUND (40402) for {topic}:\n{log[-3000:]}"
    # Still not there: the QueryRoutes above must not have created it.
    if producer.is_running:
        with pytest.raises(Exception):
            producer.send(message(topic, b"still nowhere"))


def test_push_consumer_on_missing_topic_fails_to_start(broker, clients):
    topic = unique("py_missing_push")
    group = broker.create_group(unique("py_missing_push_g"))
    consumer = PushConsumer(config(broker), group, Collector(), {topic: FilterExpression()})
    clients.append(consumer)
    with pytest.raises(Exception):
        consumer.startup()
    assert not consumer.is_running


def test_message_type_must_match_topic(broker, clients):
    """QueryRoute's accept_message_types: a FIFO message (it has a message group) is refused on a
    NORMAL topic, and a NORMAL one on a FIFO topic."""
    normal = broker.create_topic(unique("py_type_n"))
    fifo = broker.create_topic(unique("py_type_f"), fifo=True)
    producer = start_producer(broker, clients, [normal, fifo])
    with pytest.raises(Exception) as e:
        producer.send(message(normal, b"fifo on normal", group="g1"))
    assert "FIFO" in str(e.value)
    with pytest.raises(Exception) as e:
        producer.send(message(fifo, b"normal on fifo"))
    assert "NORMAL" in str(e.value)
    # and the matching types go through
    assert producer.send(message(normal, b"normal")).message_id
    assert producer.send(message(fifo, b"fifo", group="g1")).message_id
