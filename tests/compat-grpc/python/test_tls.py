"""The same SDK over TLS (`tls_enable=True`), which verifies the server's certificate: the
`tls_broker` fixture serves one signed by a throwaway CA that conftest.py made gRPC's default
roots (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH). TLS and plaintext share the broker's gRPC port."""

import time

import pytest
from rocketmq import FilterExpression, PushConsumer, SimpleConsumer

from sdk import (AWAIT_S, config, message, prime_group, receive_until, start_producer,
                 start_simple_consumer, unique)
from test_grpc_sdk import Collector, assert_no_more


def test_tls_send_receive_ack(tls_broker, clients):
    """Producer and SimpleConsumer over TLS: sends, a tag-filtered receive of exactly those
    (long polling held over TLS too), acks, then nothing."""
    b = tls_broker
    topic = b.create_topic(unique("py_tls"))
    group = b.create_group(unique("py_tls_g"))
    consumer = start_simple_consumer(b, clients, group, topic, tag="TagA", tls=True)
    prime_group(consumer)
    producer = start_producer(b, clients, [topic], tls=True)

    sent = {}
    for i in range(5):
        body = f"tls {i} \u00e9".encode()
        r = producer.send(message(topic, body, tag="TagA", key=f"tk-{i}", props={"i": str(i)}))
        sent[r.message_id] = (i, body)
    other = producer.send(message(topic, b"filtered out", tag="TagB"))
    assert len(sent) == 5, "two sends got the same message id"

    got = receive_until(consumer, len(sent))
    by_id = {m.message_id: m for m in got}
    assert other.message_id not in by_id, "a TagB message passed the TagA filter"
    assert len(got) == len(by_id) and set(by_id) == set(sent), (
        f"got {sorted(m.message_id for m in got)}, sent {sorted(sent)}")
    for mid, (i, body) in sent.items():
        m = by_id[mid]
        assert (m.body, m.tag, m.keys, m.properties) == (body, "TagA", {f"tk-{i}"}, {"i": str(i)})
        assert m.delivery_attempt == 1 and not m.corrupted
    assert_no_more(consumer)


def test_tls_push_consumer(tls_broker, clients):
    """PushConsumer over TLS (its Telemetry stream and long-polling receives included) gets
    every message once."""
    b = tls_broker
    topic = b.create_topic(unique("py_tls_push"))
    group = b.create_group(unique("py_tls_push_g"))
    primer = SimpleConsumer(config(b), group, {topic: FilterExpression()}, await_duration=AWAIT_S,
                            tls_enable=True)
    primer.startup()
    try:
        prime_group(primer)
    finally:
        primer.shutdown()
    listener = Collector()
    consumer = PushConsumer(config(b), group, listener, {topic: FilterExpression()}, tls_enable=True)
    clients.append(consumer)
    consumer.startup()
    producer = start_producer(b, clients, [topic], tls=True)

    sent = {}
    for i in range(6):
        r = producer.send(message(topic, f"tls push {i}".encode(), tag="P"))
        sent[r.message_id] = i
    got = listener.wait_for(len(sent), timeout=20)
    assert {m.message_id for m in got} == set(sent), (
        f"push consumer got {len(got)} of {len(sent)} over TLS")
    for m in got:
        assert m.body == f"tls push {sent[m.message_id]}".encode()
    time.sleep(1)
    assert len(listener.messages) == len(sent), "push consumer got a message twice"


def test_tls_untrusted_certificate_fails(broker, clients, sdk_log_mark):
    """Against the session broker's own self-signed certificate, which the CA did not sign, a TLS
    client fails promptly with a certificate error; it neither hangs nor falls back to plaintext."""
    topic = broker.create_topic(unique("py_tls_untrusted"))
    t0 = time.monotonic()
    with pytest.raises(Exception) as e:
        producer = start_producer(broker, clients, [topic], tls=True)
        producer.send(message(topic, b"must not arrive"))
    took = time.monotonic() - t0
    assert took < 15, f"a TLS client against an untrusted certificate took {took:.1f} s to fail"
    text = f"{e.value}\n{sdk_log_mark()}"
    assert "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower(), (
        f"the failure does not name the certificate: {e.value!r}\n{text[-3000:]}")
