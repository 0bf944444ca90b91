"""Small helpers over the SDK's public API (rocketmq.*), shared by the tests."""

import time
import uuid

from rocketmq import (ClientConfiguration, Credentials, FilterExpression, Message,
                      Producer, SimpleConsumer)

REQUEST_TIMEOUT_S = 3   # ClientConfiguration.request_timeout: every unary RPC's deadline
AWAIT_S = 5             # SimpleConsumer long polling (the broker's minimum is 5 s)
INVISIBLE_S = 15        # receive invisible time (the broker accepts 10 s .. 12 h)


def unique(prefix):
    """A topic or group name no other test uses (the SDK allows [%a-zA-Z0-9_-])."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def config(broker, credentials=None):
    return ClientConfiguration(broker.endpoint, credentials or Credentials(), request_timeout=REQUEST_TIMEOUT_S)


def start_producer(broker, clients, topics, tls=False, credentials=None):
    p = Producer(config(broker, credentials), topics, tls_enable=tls)
    clients.append(p)
    p.startup()
    return p


def start_simple_consumer(broker, clients, group, topic, tag="*", tls=False, credentials=None):
    c = SimpleConsumer(config(broker, credentials), group, {topic: FilterExpression(tag)}, await_duration=AWAIT_S,
                       tls_enable=tls)
    clients.append(c)
    c.startup()
    return c


def message(topic, body, tag=None, key=None, props=None, group=None):
    m = Message()
    m.topic = topic
    m.body = body
    if tag:
        m.tag = tag
    if key:
        m.keys = key
    for k, v in (props or {}).items():
        m.add_property(k, v)
    if group:
        m.message_group = group
    return m


def prime_group(consumer):
    """A new POP group starts at the end of each queue: one (empty) receive before producing
    pins its offsets, so the messages sent afterwards are all delivered."""
    t0 = time.monotonic()
    got = consumer.receive(32, INVISIBLE_S)
    took = time.monotonic() - t0
    assert got == [], f"a receive on a topic nothing was sent to returned {len(got)} messages"
    # Long polling: an empty receive is held for the whole await (and answered before the deadline).
    assert AWAIT_S - 0.5 <= took < AWAIT_S + REQUEST_TIMEOUT_S, \
        f"an empty receive with a {AWAIT_S} s await took {took:.2f} s"


def receive_until(consumer, want, deadline_s=20, ack=True, on_message=None):
    """Receives (and acks) until `want` messages came or the deadline passed; returns them in
    the order received."""
    got = []
    end = time.monotonic() + deadline_s
    while len(got) < want and time.monotonic() < end:
        for m in consumer.receive(32, INVISIBLE_S):
            got.append(m)
            if on_message:
                on_message(m)
            if ack:
                consumer.ack(m)
    return got
