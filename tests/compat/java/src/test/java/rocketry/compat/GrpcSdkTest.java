package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.rocketmq.client.apis.ClientConfiguration;
import org.apache.rocketmq.client.apis.ClientServiceProvider;
import org.apache.rocketmq.client.apis.consumer.ConsumeResult;
import org.apache.rocketmq.client.apis.consumer.FilterExpression;
import org.apache.rocketmq.client.apis.consumer.FilterExpressionType;
import org.apache.rocketmq.client.apis.consumer.PushConsumer;
import org.apache.rocketmq.client.apis.consumer.SimpleConsumer;
import org.apache.rocketmq.client.apis.message.MessageView;
import org.apache.rocketmq.client.apis.producer.Producer;
import org.apache.rocketmq.client.apis.producer.SendReceipt;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.remoting.protocol.subscription.SubscriptionGroupConfig;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The official RocketMQ 5.x Java SDK (rocketmq-client-java, gRPC) against the broker's own gRPC
 * port, no proxy: producer, SimpleConsumer (receive, ack, change of invisible duration, long
 * polling), PushConsumer (concurrent and FIFO), a missing topic, and messages crossing between
 * gRPC and remoting clients with their ids, tags, keys and properties.
 */
class GrpcSdkTest {
    @RegisterExtension
    static final Harness H = new Harness("grpc");

    static final ClientServiceProvider PROVIDER = ClientServiceProvider.loadService();
    static String namesrv;
    static String brokerAddr;
    static ClientConfiguration config;
    static ClientConfiguration tlsConfig;
    static DefaultMQAdminExt admin;

    @BeforeAll
    static void start() throws Exception {
        int grpcPort = Rocketry.freePorts(1)[0];
        Clients.Addrs a = Clients.standalone(H, "grpcServerPort=" + grpcPort, "transactionTimeOut=1000", "transactionCheckInterval=1000");
        namesrv = a.namesrv();
        brokerAddr = a.brokerAddr();
        admin = Clients.admin(H, namesrv);
        config = ClientConfiguration.newBuilder()
            .setEndpoints(Rocketry.LOOPBACK + ":" + grpcPort)
            .enableSsl(false)
            .setRequestTimeout(Duration.ofSeconds(5))
            .build();
        // The SDK's default: TLS, trusting any certificate (the broker's is self-signed).
        tlsConfig = ClientConfiguration.newBuilder()
            .setEndpoints(Rocketry.LOOPBACK + ":" + grpcPort)
            .setRequestTimeout(Duration.ofSeconds(5))
            .build();
    }

    static String topic(String prefix, String messageType) throws Exception {
        String topic = Clients.unique(prefix);
        TopicConfig t = new TopicConfig(topic, 4, 4, 6);
        if (messageType != null) {
            t.setAttributes(Map.of("+message.type", messageType));
        }
        admin.createAndUpdateTopicConfig(brokerAddr, t);
        return topic;
    }

    static String group(String prefix, boolean orderly) throws Exception {
        return group(prefix, orderly, 16);
    }

    static String group(String prefix, boolean orderly, int retryMaxTimes) throws Exception {
        String group = Clients.unique(prefix);
        SubscriptionGroupConfig g = new SubscriptionGroupConfig();
        g.setGroupName(group);
        g.setConsumeMessageOrderly(orderly);
        g.setRetryMaxTimes(retryMaxTimes);
        admin.createAndUpdateSubscriptionGroupConfig(brokerAddr, g);
        return group;
    }

    /** Push consumers, closed together at the end: each close waits out its long poll (20 s). */
    static final List<PushConsumer> PUSH_CONSUMERS = new CopyOnWriteArrayList<>();

    static PushConsumer push(String group, String topic, org.apache.rocketmq.client.apis.consumer.MessageListener listener) throws Exception {
        if (PUSH_CONSUMERS.isEmpty()) {
            H.track(() -> PUSH_CONSUMERS.parallelStream().forEach(c -> {
                try {
                    c.close();
                } catch (Exception e) {
                    System.err.println("[compat] closing a push consumer failed: " + e);
                }
            }));
        }
        PushConsumer c = PROVIDER.newPushConsumerBuilder()
            .setClientConfiguration(config)
            .setConsumerGroup(group)
            .setSubscriptionExpressions(Map.of(topic, FilterExpression.SUB_ALL))
            .setMessageListener(listener)
            .build();
        PUSH_CONSUMERS.add(c);
        return c;
    }

    static Producer producer(String... topics) throws Exception {
        Producer p = PROVIDER.newProducerBuilder().setClientConfiguration(config).setTopics(topics).build();
        H.track(p);
        return p;
    }

    static SimpleConsumer simple(String group, String topic, String tag, Duration await) throws Exception {
        SimpleConsumer c = PROVIDER.newSimpleConsumerBuilder()
            .setClientConfiguration(config)
            .setConsumerGroup(group)
            .setAwaitDuration(await)
            .setSubscriptionExpressions(Map.of(topic, new FilterExpression(tag, FilterExpressionType.TAG)))
            .build();
        H.track(c);
        return c;
    }

    static org.apache.rocketmq.client.apis.message.Message message(String topic, String tag, String body) {
        return PROVIDER.newMessageBuilder().setTopic(topic).setTag(tag).setKeys("key-" + body).addProperty("body", body)
            .setBody(body.getBytes(StandardCharsets.UTF_8)).build();
    }

    static String body(MessageView v) {
        byte[] b = new byte[v.getBody().remaining()];
        v.getBody().duplicate().get(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    /** Receives until `n` messages came or `millis` passed, acking each unless told not to. */
    static List<MessageView> receive(SimpleConsumer c, int n, long millis, boolean ack) throws Exception {
        List<MessageView> got = new ArrayList<>();
        long end = System.currentTimeMillis() + millis;
        while (got.size() < n && System.currentTimeMillis() < end) {
            for (MessageView v : c.receive(16, Duration.ofSeconds(30))) {
                got.add(v);
                if (ack) {
                    c.ack(v);
                }
            }
        }
        return got;
    }

    @Test
    void producerAndSimpleConsumerRoundTrip() throws Exception {
        String topic = topic("GrpcSimple", null);
        String group = group("GrpcSimpleGroup", false);
        SimpleConsumer consumer = simple(group, topic, "TagA", Duration.ofSeconds(5));
        // A new POP group starts at the end of each queue: take the start now, before sending.
        assertEquals(0, consumer.receive(16, Duration.ofSeconds(30)).size());
        Producer producer = producer(topic);
        Map<String, String> sentIds = new HashMap<>();
        for (int i = 0; i < 20; i++) {
            String b = "m" + i;
            SendReceipt r = producer.send(message(topic, i % 2 == 0 ? "TagA" : "TagB", b));
            sentIds.put(r.getMessageId().toString(), b);
        }
        List<MessageView> got = receive(consumer, 10, 20_000, true);
        Set<String> bodies = new TreeSet<>();
        for (MessageView v : got) {
            String b = body(v);
            bodies.add(b);
            assertEquals(b, sentIds.get(v.getMessageId().toString()), "message id of " + b);
            assertEquals(topic, v.getTopic());
            assertEquals("TagA", v.getTag().orElse(null));
            assertEquals(List.of("key-" + b), new ArrayList<>(v.getKeys()));
            assertEquals(b, v.getProperties().get("body"));
            assertEquals(1, v.getDeliveryAttempt());
        }
        Set<String> expected = new TreeSet<>();
        for (int i = 0; i < 20; i += 2) {
            expected.add("m" + i);
        }
        assertEquals(expected, bodies, "the TagA messages, each once");
        // Acked: nothing comes back. An empty receive waits the whole await duration.
        long t0 = System.nanoTime();
        assertEquals(0, consumer.receive(16, Duration.ofSeconds(30)).size());
        long waited = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(waited >= 4_500 && waited < 20_000, "an empty receive with a 5 s await took " + waited + " ms");
    }

    @Test
    void changeInvisibleDurationRedeliversAndTheNewHandleAcks() throws Exception {
        String topic = topic("GrpcChange", null);
        String group = group("GrpcChangeGroup", false);
        SimpleConsumer consumer = simple(group, topic, "*", Duration.ofSeconds(5));
        assertEquals(0, consumer.receive(16, Duration.ofSeconds(30)).size());
        producer(topic).send(message(topic, "T", "again"));
        List<MessageView> first = receive(consumer, 1, 15_000, false);
        assertEquals(1, first.size());
        // Visible again in a second: delivered once more, attempt 2.
        consumer.changeInvisibleDuration(first.get(0), Duration.ofSeconds(1));
        List<MessageView> second = receive(consumer, 1, 15_000, false);
        assertEquals(1, second.size());
        assertEquals(first.get(0).getMessageId(), second.get(0).getMessageId());
        assertEquals(2, second.get(0).getDeliveryAttempt());
        // Extended, then acked with the handle the change gave back: never delivered again.
        consumer.changeInvisibleDuration(second.get(0), Duration.ofSeconds(2));
        consumer.ack(second.get(0));
        assertEquals(0, receive(consumer, 1, 8_000, false).size());
    }

    @Test
    void tlsOnTheSamePort() throws Exception {
        String topic = topic("GrpcTls", null);
        String group = group("GrpcTlsGroup", false);
        SimpleConsumer consumer = PROVIDER.newSimpleConsumerBuilder()
            .setClientConfiguration(tlsConfig)
            .setConsumerGroup(group)
            .setAwaitDuration(Duration.ofSeconds(5))
            .setSubscriptionExpressions(Map.of(topic, FilterExpression.SUB_ALL))
            .build();
        H.track(consumer);
        assertEquals(0, consumer.receive(16, Duration.ofSeconds(30)).size());
        Producer producer = PROVIDER.newProducerBuilder().setClientConfiguration(tlsConfig).setTopics(topic).build();
        H.track(producer);
        SendReceipt r = producer.send(message(topic, "T", "over-tls"));
        List<MessageView> got = receive(consumer, 1, 15_000, true);
        assertEquals(1, got.size());
        assertEquals(r.getMessageId(), got.get(0).getMessageId());
        assertEquals("over-tls", body(got.get(0)));
    }

    /** Commit, rollback, and an undecided transaction the broker checks back and the checker commits. */
    @Test
    void transactionsCommitRollbackAndCheckBack() throws Exception {
        String topic = topic("GrpcTx", "TRANSACTION");
        String group = group("GrpcTxGroup", false);
        SimpleConsumer consumer = simple(group, topic, "*", Duration.ofSeconds(5));
        assertEquals(0, consumer.receive(16, Duration.ofSeconds(30)).size());
        Set<String> checked = ConcurrentHashMap.newKeySet();
        Producer producer = PROVIDER.newProducerBuilder().setClientConfiguration(config).setTopics(topic)
            .setTransactionChecker(v -> {
                checked.add(body(v));
                return org.apache.rocketmq.client.apis.producer.TransactionResolution.COMMIT;
            })
            .build();
        H.track(producer);
        org.apache.rocketmq.client.apis.producer.Transaction committed = producer.beginTransaction();
        SendReceipt c = producer.send(message(topic, "T", "tx-commit"), committed);
        committed.commit();
        org.apache.rocketmq.client.apis.producer.Transaction rolledBack = producer.beginTransaction();
        producer.send(message(topic, "T", "tx-rollback"), rolledBack);
        rolledBack.rollback();
        SendReceipt u = producer.send(message(topic, "T", "tx-undecided"), producer.beginTransaction());
        List<MessageView> got = receive(consumer, 2, 20_000, true);
        Map<String, String> ids = new HashMap<>();
        for (MessageView v : got) {
            ids.put(body(v), v.getMessageId().toString());
        }
        assertEquals(Map.of("tx-commit", c.getMessageId().toString(), "tx-undecided", u.getMessageId().toString()), ids);
        assertEquals(Set.of("tx-undecided"), checked, "only the undecided transaction is checked back");
        assertEquals(0, receive(consumer, 1, 3_000, true).size(), "never the rolled-back message");
    }

    /** A delay message (delivery timestamp) on a DELAY topic arrives not before its time. */
    @Test
    void delayMessagesArriveAtTheirTime() throws Exception {
        String topic = topic("GrpcDelay", "DELAY");
        String group = group("GrpcDelayGroup", false);
        SimpleConsumer consumer = simple(group, topic, "*", Duration.ofSeconds(5));
        assertEquals(0, consumer.receive(16, Duration.ofSeconds(30)).size());
        long due = System.currentTimeMillis() + 3_000;
        SendReceipt r = producer(topic).send(PROVIDER.newMessageBuilder().setTopic(topic).setDeliveryTimestamp(due)
            .setBody("later".getBytes(StandardCharsets.UTF_8)).build());
        List<MessageView> got = receive(consumer, 1, 15_000, true);
        long at = System.currentTimeMillis();
        assertEquals(1, got.size());
        assertEquals(r.getMessageId(), got.get(0).getMessageId());
        assertTrue(at >= due - 50, "arrived " + (due - at) + " ms early");
        assertEquals(due, got.get(0).getDeliveryTimestamp().orElse(0L).longValue());
    }

    @Test
    void aMissingTopicFailsTheProducersStart() {
        assertThrows(Exception.class, () -> producer("GrpcNoSuchTopic_" + Clients.RUN));
    }

    @Test
    void pushConsumerReceivesEveryMessage() throws Exception {
        String topic = topic("GrpcPush", null);
        String group = group("GrpcPushGroup", false);
        Set<String> got = ConcurrentHashMap.newKeySet();
        push(group, topic, v -> {
            got.add(body(v));
            return ConsumeResult.SUCCESS;
        });
        Thread.sleep(2_000);
        Producer producer = producer(topic);
        Set<String> sent = new TreeSet<>();
        for (int i = 0; i < 30; i++) {
            producer.send(message(topic, "T", "p" + i));
            sent.add("p" + i);
        }
        Wait.until("30 messages pushed", 30_000, () -> new TreeSet<>(got), s -> s.equals(sent));
        // The admin sees the gRPC consumer and gets its thread dump through its Telemetry stream.
        org.apache.rocketmq.remoting.protocol.body.ConsumerConnection conn = admin.examineConsumerConnectionInfo(group);
        assertEquals(1, conn.getConnectionSet().size());
        String clientId = conn.getConnectionSet().iterator().next().getClientId();
        org.apache.rocketmq.remoting.protocol.body.ConsumerRunningInfo info = admin.getConsumerRunningInfo(group, clientId, true);
        assertTrue(info.getJstack() != null && info.getJstack().contains("Thread"), "jstack of the gRPC consumer: " + info.getJstack());
    }

    @Test
    void fifoMessagesOfAGroupArriveInOrder() throws Exception {
        String topic = topic("GrpcFifo", "FIFO");
        String group = group("GrpcFifoGroup", true);
        Map<String, List<Integer>> byGroup = new ConcurrentHashMap<>();
        push(group, topic, v -> {
            String[] parts = body(v).split(":");
            byGroup.computeIfAbsent(parts[0], k -> Collections.synchronizedList(new ArrayList<>())).add(Integer.parseInt(parts[1]));
            return ConsumeResult.SUCCESS;
        });
        Thread.sleep(2_000);
        Producer producer = producer(topic);
        for (int i = 0; i < 20; i++) {
            for (String g : List.of("a", "b", "c")) {
                producer.send(PROVIDER.newMessageBuilder().setTopic(topic).setMessageGroup(g)
                    .setBody((g + ":" + i).getBytes(StandardCharsets.UTF_8)).build());
            }
        }
        Wait.until("60 FIFO messages", 30_000, () -> byGroup.values().stream().mapToInt(List::size).sum(), n -> n >= 60);
        for (String g : List.of("a", "b", "c")) {
            List<Integer> expected = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                expected.add(i);
            }
            assertEquals(expected, byGroup.get(g), "order of message group " + g);
        }
        // A normal message on a FIFO topic is refused (the SDK checks the route's types too).
        assertThrows(Exception.class, () -> producer.send(message(topic, "T", "not-fifo")));
    }

    /**
     * A push consumer that always fails: delivered retryMaxTimes + 1 times (the settings' max
     * attempts), then in the group's DLQ, read there by a remoting consumer. Concurrent: the
     * broker dead-letters it; FIFO: the SDK forwards it (ForwardMessageToDeadLetterQueue).
     */
    @Test
    void failedMessagesGoToTheDeadLetterQueueAfterMaxAttempts() throws Exception {
        Map<String, List<Integer>> attempts = new ConcurrentHashMap<>();
        Map<Boolean, String> groups = new HashMap<>();
        Map<Boolean, String> ids = new HashMap<>();
        for (boolean fifo : new boolean[] {false, true}) {
            String topic = topic(fifo ? "GrpcDlqFifo" : "GrpcDlq", fifo ? "FIFO" : null);
            String group = group(fifo ? "GrpcDlqFifoGroup" : "GrpcDlqGroup", fifo, 1);
            groups.put(fifo, group);
            push(group, topic, v -> {
                attempts.computeIfAbsent(body(v), k -> new CopyOnWriteArrayList<>()).add(v.getDeliveryAttempt());
                return ConsumeResult.FAILURE;
            });
            Thread.sleep(1_000);
            org.apache.rocketmq.client.apis.message.MessageBuilder b = PROVIDER.newMessageBuilder().setTopic(topic)
                .setBody(("poison-" + fifo).getBytes(StandardCharsets.UTF_8));
            if (fifo) {
                b.setMessageGroup("g");
            }
            ids.put(fifo, producer(topic).send(b.build()).getMessageId().toString());
        }
        for (boolean fifo : new boolean[] {false, true}) {
            String dlq = "%DLQ%" + groups.get(fifo);
            Wait.until((fifo ? "FIFO" : "concurrent") + " poison message in the DLQ", 60_000,
                () -> admin.examineTopicStats(dlq).getOffsetTable().values().stream().mapToLong(o -> o.getMaxOffset()).sum(), n -> n == 1);
            MessageExt dead = admin.viewMessage(dlq, ids.get(fifo));
            assertEquals("poison-" + fifo, new String(dead.getBody(), StandardCharsets.UTF_8));
            assertEquals(List.of(1, 2), attempts.get("poison-" + fifo), "delivery attempts before the DLQ (fifo=" + fifo + ")");
        }
    }

    @Test
    void messagesCrossBetweenGrpcAndRemotingClients() throws Exception {
        String topic = topic("GrpcMixed", null);
        // gRPC producer to a remoting (4.x API) push consumer.
        List<MessageExt> remotingGot = new CopyOnWriteArrayList<>();
        org.apache.rocketmq.client.consumer.DefaultMQPushConsumer push = Clients.pushWith(H, namesrv, Clients.unique("RemotingGroup"), topic,
            (MessageListenerConcurrently) (msgs, ctx) -> {
                remotingGot.addAll(msgs);
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            }, c -> { });
        SendReceipt r = producer(topic).send(message(topic, "TagX", "from-grpc"));
        MessageExt m = Wait.until("the gRPC message at the remoting consumer", 20_000, () -> remotingGot.isEmpty() ? null : remotingGot.get(0), x -> x != null);
        assertEquals(r.getMessageId().toString(), m.getMsgId());
        assertEquals("TagX", m.getTags());
        assertEquals("key-from-grpc", m.getKeys());
        assertEquals("from-grpc", m.getUserProperty("body"));
        assertEquals("from-grpc", new String(m.getBody(), StandardCharsets.UTF_8));
        push.shutdown();

        // Remoting producer to a gRPC SimpleConsumer (a topic of its own: a new POP group may
        // start at the last message already there).
        topic = topic("GrpcMixedBack", null);
        String group = group("GrpcMixedGroup", false);
        SimpleConsumer consumer = simple(group, topic, "*", Duration.ofSeconds(5));
        assertEquals(0, consumer.receive(16, Duration.ofSeconds(30)).size());
        DefaultMQProducer producer = Clients.producer(H, namesrv);
        org.apache.rocketmq.common.message.Message out = new org.apache.rocketmq.common.message.Message(topic, "TagY", "key-1 key-2",
            "from-remoting".getBytes(StandardCharsets.UTF_8));
        out.putUserProperty("color", "red");
        org.apache.rocketmq.client.producer.SendResult sr = producer.send(out);
        assertEquals(SendStatus.SEND_OK, sr.getSendStatus());
        List<MessageView> got = receive(consumer, 1, 15_000, true);
        assertEquals(1, got.size());
        MessageView v = got.get(0);
        assertEquals(sr.getMsgId(), v.getMessageId().toString());
        assertEquals("TagY", v.getTag().orElse(null));
        assertEquals(new TreeSet<>(List.of("key-1", "key-2")), new TreeSet<>(v.getKeys()));
        assertEquals("red", v.getProperties().get("color"));
        assertEquals("from-remoting", body(v));
    }
}
