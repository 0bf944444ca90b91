package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Committed offsets hold across a consumer restart and across a broker restart. */
class OffsetsTest {

    static List<Message> send(Rocketry server, String topic, String prefix, int n) throws Exception {
        DefaultMQProducer p = new DefaultMQProducer("offsets_producer_" + prefix);
        p.setNamesrvAddr(server.namesrvAddr());
        p.setInstanceName("p-" + prefix + System.nanoTime());
        p.start();
        List<Message> sent = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                Message m = Expect.message(topic, prefix + i, "T", 100);
                assertEquals(SendStatus.SEND_OK, p.send(m).getSendStatus());
                sent.add(m);
            }
        } finally {
            p.shutdown();
        }
        return sent;
    }

    /** Consumes with a push consumer until `expect` distinct messages came, then a quiet second. */
    static Expect.Received consume(Rocketry server, String topic, String group, int expect) throws Exception {
        Expect.Received got = new Expect.Received();
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
        c.setNamesrvAddr(server.namesrvAddr());
        c.setInstanceName("c-" + System.nanoTime());
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.setPersistConsumerOffsetInterval(500);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            msgs.forEach(got::add);
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        try {
            got.waitFor(expect, 60_000);
            Thread.sleep(2000); // let the offsets be committed (every 500 ms) and extras arrive
        } finally {
            c.shutdown(); // persists offsets once more
        }
        return got;
    }

    @Test
    void offsetsHoldAcrossConsumerRestart(@TempDir Path dir) throws Exception {
        try (Rocketry server = Rocketry.standalone(dir)) {
            List<Message> first = send(server, "OffsetTopic", "a-", 50);
            Expect.Received r1 = consume(server, "OffsetTopic", "offsets_group", 50);
            assertEquals(Expect.fingerprints(first), new TreeMap<>(r1.byId));
            List<Message> second = send(server, "OffsetTopic", "b-", 50);
            Expect.Received r2 = consume(server, "OffsetTopic", "offsets_group", 50);
            assertEquals(Expect.fingerprints(second), new TreeMap<>(r2.byId), "only the new messages after a consumer restart");
        }
    }

    @Test
    void offsetsAndMessagesHoldAcrossBrokerRestart(@TempDir Path dir) throws Exception {
        try (Rocketry server = Rocketry.standalone(dir)) {
            List<Message> first = send(server, "RestartTopic", "a-", 50);
            Expect.Received r1 = consume(server, "RestartTopic", "restart_group", 50);
            assertEquals(Expect.fingerprints(first), new TreeMap<>(r1.byId));

            server.stop();
            server.start();

            List<Message> second = send(server, "RestartTopic", "b-", 50);
            Expect.Received r2 = consume(server, "RestartTopic", "restart_group", 50);
            assertEquals(Expect.fingerprints(second), new TreeMap<>(r2.byId), "only the new messages after a broker restart\n" + server.logTail());

            // Everything sent before the restart is still stored.
            List<Message> all = new ArrayList<>(first);
            all.addAll(second);
            Map<String, String> pulled = new TreeMap<>();
            DefaultLitePullConsumer lite = new DefaultLitePullConsumer("restart_lite");
            lite.setNamesrvAddr(server.namesrvAddr());
            lite.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
            lite.subscribe("RestartTopic", "*");
            lite.start();
            try {
                long end = System.currentTimeMillis() + 60_000;
                while (pulled.size() < all.size() && System.currentTimeMillis() < end) {
                    for (MessageExt m : lite.poll(1000)) {
                        pulled.put(m.getUserProperty("id"), Expect.fingerprint(m));
                    }
                }
            } finally {
                lite.shutdown();
            }
            assertEquals(Expect.fingerprints(all), pulled);
            assertTrue(r1.duplicates.isEmpty() && r2.duplicates.isEmpty());
        }
    }
}
