package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Delay levels, retries through %RETRY%&lt;group&gt; after RECONSUME_LATER, and the dead-letter queue,
 * with every delay level set to 1 s so the test is quick.
 *
 * <p>Request codes exercised: SEND_MESSAGE_V2 (310) with DELAY, CONSUMER_SEND_MSG_BACK (36),
 * PULL_MESSAGE (11) on %RETRY% and %DLQ% topics, HEART_BEAT (34).
 */
class RetryDlqTest {
    @RegisterExtension
    static final Harness H = new Harness("retry");

    static String namesrv;
    static DefaultMQProducer producer;

    @BeforeAll
    static void start() throws Exception {
        namesrv = Clients.standalone(H, "messageDelayLevel=" + "1s ".repeat(18).trim()).namesrv();
        producer = Clients.producer(H, namesrv);
    }

    static Set<String> sendAll(String topic, int n) throws Exception {
        Set<String> ids = new TreeSet<>();
        for (int i = 0; i < n; i++) {
            Message m = new Message(topic, "T", ("retry-" + i).getBytes(StandardCharsets.UTF_8));
            m.putUserProperty("id", "retry-" + i);
            assertEquals(SendStatus.SEND_OK, producer.send(m).getSendStatus());
            ids.add("retry-" + i);
        }
        return ids;
    }

    static DefaultMQPushConsumer consumer(String group, String topic, int maxReconsumeTimes, MessageListenerConcurrently listener) throws Exception {
        return Clients.pushWith(H, namesrv, group, topic, listener, c -> c.setMaxReconsumeTimes(maxReconsumeTimes));
    }

    @Test
    void failedMessagesAreRetriedUntilTheySucceed() throws Exception {
        String topic = Clients.unique("RetryTopic");
        String group = Clients.unique("retry_group");
        Set<String> sent = sendAll(topic, 10);
        Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
        Map<String, String> succeeded = new ConcurrentHashMap<>();
        consumer(group, topic, 16, (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                String id = m.getUserProperty("id");
                int n = attempts.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
                if (n <= 2) {
                    return ConsumeConcurrentlyStatus.RECONSUME_LATER;
                }
                // The retried copy looks like the original: topic restored, body intact.
                succeeded.put(id, m.getTopic() + "|" + new String(m.getBody(), StandardCharsets.UTF_8) + "|" + m.getReconsumeTimes());
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        Wait.until("all messages consumed after two failures", 90_000, () -> succeeded.size(), n -> n == sent.size());
        Map<String, String> want = new TreeMap<>();
        for (String id : sent) {
            want.put(id, topic + "|" + id + "|2");
        }
        assertEquals(want, new TreeMap<>(succeeded));
        for (String id : sent) {
            assertEquals(3, attempts.get(id).get(), "deliveries of " + id);
        }
    }

    @Test
    void messagesGoToTheDeadLetterQueueAfterMaxRetries() throws Exception {
        String topic = Clients.unique("DlqTopic");
        String group = Clients.unique("dlq_group");
        Set<String> sent = sendAll(topic, 5);
        Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
        consumer(group, topic, 1, (msgs, ctx) -> {
            msgs.forEach(m -> attempts.computeIfAbsent(m.getUserProperty("id"), k -> new AtomicInteger()).incrementAndGet());
            return ConsumeConcurrentlyStatus.RECONSUME_LATER;
        });
        Map<String, String> dead = new ConcurrentHashMap<>();
        Wait.until("every message tried twice", 60_000, () -> attempts.values().stream().filter(a -> a.get() >= 2).count(), n -> n == sent.size());
        consumer(Clients.unique("dlq_reader"), "%DLQ%" + group, 16, (msgs, ctx) -> {
            msgs.forEach(m -> dead.put(m.getUserProperty("id"), new String(m.getBody(), StandardCharsets.UTF_8)));
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        Wait.until("all messages in the DLQ", 60_000, () -> dead.size(), n -> n == sent.size());
        Map<String, String> want = new TreeMap<>();
        sent.forEach(id -> want.put(id, id));
        assertEquals(want, new TreeMap<>(dead));
        Thread.sleep(1500);
        for (String id : sent) {
            assertEquals(2, attempts.get(id).get(), "no delivery after the message went to the DLQ: " + id);
        }
    }

    @Test
    void anOrderlyConsumerSendsAPoisonMessageToTheDlqAndGoesOn() throws Exception {
        String topic = Clients.unique("OrderlyDlqTopic");
        String group = Clients.unique("orderly_dlq_group");
        java.util.List<String> sent = new java.util.ArrayList<>();
        for (int i = 0; i < 6; i++) {
            String id = i == 2 ? "poison" : "ok-" + i;
            Message m = new Message(topic, "T", id.getBytes(StandardCharsets.UTF_8));
            m.putUserProperty("id", id);
            // All on queue 0, so the poison message blocks the ones behind it until it is dead-lettered.
            assertEquals(SendStatus.SEND_OK, producer.send(m, (mqs, msg, arg) -> mqs.get(0), null).getSendStatus());
            sent.add(id);
        }
        java.util.List<String> order = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        Map<Integer, Integer> poisonReconsumeTimes = new ConcurrentHashMap<>();
        AtomicInteger poisonAttempts = new AtomicInteger();
        Clients.pushWith(H, namesrv, group, topic, (org.apache.rocketmq.client.consumer.listener.MessageListenerOrderly) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                String id = m.getUserProperty("id");
                if (id.equals("poison")) {
                    poisonReconsumeTimes.put(poisonAttempts.incrementAndGet(), m.getReconsumeTimes());
                    return org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT;
                }
                order.add(id);
            }
            return org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus.SUCCESS;
        }, c -> {
            c.setMaxReconsumeTimes(2);
            c.setSuspendCurrentQueueTimeMillis(200);
            c.setConsumeMessageBatchMaxSize(1);
        });
        Map<String, String> dead = new ConcurrentHashMap<>();
        consumer(Clients.unique("orderly_dlq_reader"), "%DLQ%" + group, 16, (msgs, ctx) -> {
            msgs.forEach(m -> dead.put(m.getUserProperty("id"), new String(m.getBody(), StandardCharsets.UTF_8)));
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        Wait.until("the poison message in the DLQ", 60_000, () -> dead.size(), n -> n == 1);
        Wait.until("the messages behind it consumed", 30_000, () -> order.size(), n -> n == 5);
        Thread.sleep(1000);
        assertEquals(Map.of("poison", "poison"), dead);
        assertEquals(java.util.List.of("ok-0", "ok-1", "ok-3", "ok-4", "ok-5"), order, "queue order kept around the poison message");
        assertEquals(Map.of(1, 0, 2, 1, 3, 2), poisonReconsumeTimes, "tried 3 times (reconsumeTimes 0, 1, 2), then dead-lettered");
    }

    @Test
    void delayedMessagesArriveAfterTheirDelay() throws Exception {
        String topic = Clients.unique("DelayTopic");
        Message m = new Message(topic, "T", "delayed".getBytes(StandardCharsets.UTF_8));
        m.putUserProperty("id", "delayed");
        m.setDelayTimeLevel(3);
        long sentAt = System.currentTimeMillis();
        assertEquals(SendStatus.SEND_OK, producer.send(m).getSendStatus());
        Map<String, Long> arrived = new ConcurrentHashMap<>();
        consumer(Clients.unique("delay_group"), topic, 16, (msgs, ctx) -> {
            msgs.forEach(x -> arrived.put(x.getUserProperty("id"), System.currentTimeMillis()));
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        Wait.until("the delayed message", 30_000, () -> arrived.size(), n -> n == 1);
        assertTrue(arrived.get("delayed") - sentAt >= 900, "arrived after about its 1 s delay");
    }
}
