package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Sync, async, oneway and batch sends; push and lite pull consumers; exact message sets. */
class RoundTripTest {
    static Rocketry server;
    static DefaultMQProducer producer;
    static final String TOPIC = "RoundTripTopic";
    static final List<Message> sent = new ArrayList<>();

    @BeforeAll
    static void start(@TempDir Path dir) throws Exception {
        server = Rocketry.standalone(dir);
        producer = new DefaultMQProducer("rt_producer");
        producer.setNamesrvAddr(server.namesrvAddr());
        producer.start();

        for (int i = 0; i < 20; i++) {
            // Every fifth message is larger than 4 KiB, so the client compresses it.
            Message m = Expect.message(TOPIC, "sync-" + i, i % 2 == 0 ? "TagA" : "TagB", i % 5 == 0 ? 6000 : 100);
            SendResult r = producer.send(m);
            assertEquals(SendStatus.SEND_OK, r.getSendStatus());
            assertNotNull(r.getMsgId());
            assertNotNull(r.getOffsetMsgId());
            sent.add(m);
        }
        CountDownLatch acks = new CountDownLatch(20);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        for (int i = 0; i < 20; i++) {
            Message m = Expect.message(TOPIC, "async-" + i, "TagC", 200);
            producer.send(m, new SendCallback() {
                @Override public void onSuccess(SendResult r) {
                    if (r.getSendStatus() != SendStatus.SEND_OK) {
                        failure.set(new AssertionError("async status " + r.getSendStatus()));
                    }
                    acks.countDown();
                }
                @Override public void onException(Throwable e) {
                    failure.set(e);
                    acks.countDown();
                }
            });
            sent.add(m);
        }
        assertTrue(acks.await(30, TimeUnit.SECONDS), "async callbacks");
        if (failure.get() != null) {
            throw new AssertionError("async send failed", failure.get());
        }
        for (int i = 0; i < 10; i++) {
            Message m = Expect.message(TOPIC, "oneway-" + i, "TagA", 50);
            producer.sendOneway(m);
            sent.add(m);
        }
        List<Message> batch = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            batch.add(Expect.message(TOPIC, "batch-" + i, "TagB", 80));
        }
        SendResult br = producer.send(batch);
        assertEquals(SendStatus.SEND_OK, br.getSendStatus());
        assertEquals(10, br.getMsgId().split(",").length);
        sent.addAll(batch);
    }

    @AfterAll
    static void stop() throws Exception {
        if (producer != null) {
            producer.shutdown();
        }
        if (server != null) {
            server.close();
        }
    }

    private static Map<String, String> expected(java.util.function.Predicate<Message> keep) {
        List<Message> subset = new ArrayList<>();
        for (Message m : sent) {
            if (keep.test(m)) {
                subset.add(m);
            }
        }
        return Expect.fingerprints(subset);
    }

    private static Expect.Received push(String group, String expression, int expect) throws Exception {
        Expect.Received got = new Expect.Received();
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
        c.setNamesrvAddr(server.namesrvAddr());
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(TOPIC, expression);
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            msgs.forEach(got::add);
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        try {
            got.waitFor(expect, 60_000);
            Thread.sleep(1000); // anything extra would arrive now
        } finally {
            c.shutdown();
        }
        return got;
    }

    @Test
    void pushConsumerReceivesExactlyWhatWasSent() throws Exception {
        Expect.Received got = push("rt_push_all", "*", sent.size());
        assertEquals(expected(m -> true), new TreeMap<>(got.byId), server.logTail());
        assertTrue(got.duplicates.isEmpty(), "duplicates: " + got.duplicates);
    }

    @Test
    void tagSubscriptionFilters() throws Exception {
        Map<String, String> want = expected(m -> "TagA".equals(m.getTags()) || "TagB".equals(m.getTags()));
        Expect.Received got = push("rt_push_tags", "TagA || TagB", want.size());
        assertEquals(want, new TreeMap<>(got.byId));
    }

    @Test
    void litePullConsumerReceivesExactlyWhatWasSent() throws Exception {
        Expect.Received got = new Expect.Received();
        DefaultLitePullConsumer c = new DefaultLitePullConsumer("rt_lite");
        c.setNamesrvAddr(server.namesrvAddr());
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(TOPIC, "*");
        c.start();
        try {
            long end = System.currentTimeMillis() + 60_000;
            while (got.byId.size() < sent.size() && System.currentTimeMillis() < end) {
                for (MessageExt m : c.poll(1000)) {
                    got.add(m);
                }
            }
        } finally {
            c.shutdown();
        }
        assertEquals(expected(m -> true), new TreeMap<>(got.byId));
        assertTrue(got.duplicates.isEmpty(), "duplicates: " + got.duplicates);
    }
}
