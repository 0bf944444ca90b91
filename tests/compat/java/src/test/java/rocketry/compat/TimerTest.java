package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * 5.x timer messages with the official Java 5.3.3 producer (setDeliverTimeMs, setDelayTimeSec,
 * setDelayTimeMs) and push consumer: each arrives not before its time, once; a bad value is refused;
 * a pending one is recalled (producer.recallMessage) and never arrives.
 */
class TimerTest {
    @RegisterExtension
    static final Harness H = new Harness("timer");

    static String namesrv;
    static String brokerAddr;
    static DefaultMQProducer producer;
    static DefaultMQAdminExt admin;

    @BeforeAll
    static void start() throws Exception {
        Clients.Addrs a = Clients.standalone(H);
        namesrv = a.namesrv();
        brokerAddr = a.brokerAddr();
        producer = Clients.producer(H, namesrv);
        admin = Clients.admin(H, namesrv);
    }

    @Test
    void timerMessagesArriveAtTheirTimeAndRecallCancels() throws Exception {
        String topic = Clients.unique("Timer");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 2, 2, 6));
        Map<String, Long> arrived = new ConcurrentHashMap<>();
        Map<String, Integer> deliveries = new ConcurrentHashMap<>();
        Map<String, MessageExt> got = new ConcurrentHashMap<>();
        Clients.pushWith(H, namesrv, Clients.unique("TimerConsumer"), topic, (MessageListenerConcurrently) (msgs, ctx) -> {
            long now = System.currentTimeMillis();
            for (MessageExt m : msgs) {
                String id = new String(m.getBody(), StandardCharsets.UTF_8);
                arrived.putIfAbsent(id, now);
                deliveries.merge(id, 1, Integer::sum);
                got.put(id, m);
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        }, c -> { });
        Thread.sleep(1_000);
        long t0 = System.currentTimeMillis();
        Map<String, Long> due = new ConcurrentHashMap<>();
        Message at = new Message(topic, "T", "k-at", "at".getBytes(StandardCharsets.UTF_8));
        at.setDeliverTimeMs(t0 + 3_000);
        due.put("at", t0 + 3_000);
        Message sec = new Message(topic, "T", "k-sec", "sec".getBytes(StandardCharsets.UTF_8));
        sec.setDelayTimeSec(2);
        Message ms = new Message(topic, "T", "k-ms", "ms".getBytes(StandardCharsets.UTF_8));
        ms.setDelayTimeMs(1_500);
        Message recalled = new Message(topic, "T", "k-recalled", "recalled".getBytes(StandardCharsets.UTF_8));
        recalled.setDelayTimeSec(3);
        long sentAt = System.currentTimeMillis();
        SendResult atResult = producer.send(at);
        assertEquals(SendStatus.SEND_OK, atResult.getSendStatus());
        assertEquals(SendStatus.SEND_OK, producer.send(sec).getSendStatus());
        due.put("sec", sentAt + 2_000);
        assertEquals(SendStatus.SEND_OK, producer.send(ms).getSendStatus());
        due.put("ms", sentAt + 1_500);
        SendResult r = producer.send(recalled);
        assertNotNull(r.getRecallHandle(), "a timer message's recall handle");
        assertEquals(r.getMsgId(), producer.recallMessage(topic, r.getRecallHandle()));
        Wait.until("the three timer messages", 20_000, () -> Map.copyOf(arrived), a -> a.keySet().containsAll(due.keySet()));
        Thread.sleep(2_500);
        for (Map.Entry<String, Long> e : due.entrySet()) {
            long early = e.getValue() - arrived.get(e.getKey());
            assertTrue(early <= 50, e.getKey() + " arrived " + early + " ms before its time");
            assertTrue(arrived.get(e.getKey()) - e.getValue() < 2_000, e.getKey() + " arrived " + (arrived.get(e.getKey()) - e.getValue()) + " ms late");
            assertEquals(1, deliveries.get(e.getKey()), "once: " + e.getKey());
            assertEquals("k-" + e.getKey(), got.get(e.getKey()).getKeys());
        }
        assertEquals(atResult.getMsgId(), got.get("at").getMsgId(), "the message id the producer was given");
        assertTrue(!arrived.containsKey("recalled"), "a recalled message never arrives");
    }

    @Test
    void badTimerValuesAreRefused() throws Exception {
        String topic = Clients.unique("TimerBad");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 1, 1, 6));
        Message tooFar = new Message(topic, "far".getBytes(StandardCharsets.UTF_8));
        tooFar.setDelayTimeSec(4L * 24 * 3600);
        MQBrokerException e = assertThrows(MQBrokerException.class, () -> producer.send(tooFar));
        assertEquals(13, e.getResponseCode());
        assertTrue(e.getErrorMessage().contains("max delay"), e.getErrorMessage());
        Message negative = new Message(topic, "neg".getBytes(StandardCharsets.UTF_8));
        negative.setDelayTimeMs(-5);
        assertThrows(Exception.class, () -> producer.send(negative));
    }
}
