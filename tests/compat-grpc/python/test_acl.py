"""ACL 2.0 on the gRPC port with the SDK's Credentials (the `authorization` header signing
`x-mq-date-time`): users and ACLs made with `rocketry admin` as the super user; an allowed user
sends and receives; a wrong secret and a topic outside the user's policy are refused."""

import pytest
from rocketmq import Credentials

from sdk import message, prime_group, receive_until, start_producer, start_simple_consumer, unique


def test_acl_allowed_user_and_refusals(acl_broker, clients):
    b = acl_broker
    topic = b.create_topic(unique("py_acl"))
    denied = b.create_topic(unique("py_acl_denied"))
    group = b.create_group(unique("py_acl_g"))
    user = unique("alice")
    target = ["-n", b.namesrv, "-c", "DefaultCluster"]
    b.admin("createUser", *target, "-u", user, "-p", "aliceSecret")
    b.admin("createAcl", *target, "-s", f"User:{user}", "-r", f"Topic:{topic},Group:{group}", "-a", "Pub,Sub", "-d", "Allow")
    b.admin("createAcl", *target, "-s", f"User:{user}", "-r", f"Topic:{denied}", "-a", "Sub", "-d", "Allow")
    alice = Credentials(user, "aliceSecret")

    consumer = start_simple_consumer(b, clients, group, topic, credentials=alice)
    prime_group(consumer)
    producer = start_producer(b, clients, [topic], credentials=alice)
    sent = {producer.send(message(topic, f"acl {i}".encode(), tag="A")).message_id for i in range(3)}
    got = receive_until(consumer, len(sent))
    assert {m.message_id for m in got} == sent

    # A topic alice may read but not write: the send is refused with the broker's reason.
    with pytest.raises(Exception) as refused:
        producer.send(message(denied, b"x", tag="A"))
    assert "no permission" in str(refused.value), str(refused.value)

    # A wrong secret: nothing the client asks is answered.
    with pytest.raises(Exception):
        wrong = start_producer(b, clients, [topic], credentials=Credentials(user, "not-her-secret"))
        wrong.send(message(topic, b"x", tag="A"))
