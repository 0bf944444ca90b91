package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.listener.MessageListenerOrderly;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.remoting.protocol.heartbeat.MessageModel;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Ordered messages (MessageQueueSelector + MessageListenerOrderly, which locks its queues with
 * LOCK_BATCH_MQ 41 / UNLOCK_BATCH_MQ 42) and broadcast consumption.
 */
class OrderBroadcastTest {
    @RegisterExtension
    static final Harness H = new Harness("order");

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

    /** 10,000 keyed messages over 8 queues; the orderly consumer is replaced half way. */
    @Test
    void orderedMessagesArriveInOrderPerKeyAcrossAConsumerRestart() throws Exception {
        String topic = Clients.unique("OrderTopic");
        String group = Clients.unique("order_group");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 8, 8, 6));
        Wait.until("route of " + topic, 10_000, () -> producer.fetchPublishMessageQueues(topic).size(), n -> n == 8);
        int keys = 40, perKey = 250;
        for (int i = 0; i < perKey; i++) {
            for (int k = 0; k < keys; k++) {
                Message m = new Message(topic, "T", (k + ":" + i).getBytes(StandardCharsets.UTF_8));
                m.setKeys("order-" + k);
                SendStatus st = producer.send(m, (mqs, msg, arg) -> mqs.get((Integer) arg % mqs.size()), k).getSendStatus();
                assertEquals(SendStatus.SEND_OK, st);
            }
        }
        Map<Integer, List<Integer>> seen = new ConcurrentHashMap<>();
        java.util.concurrent.atomic.AtomicInteger count = new java.util.concurrent.atomic.AtomicInteger();
        MessageListenerOrderly listener = (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                String[] kv = new String(m.getBody(), StandardCharsets.UTF_8).split(":");
                seen.computeIfAbsent(Integer.parseInt(kv[0]), x -> Collections.synchronizedList(new ArrayList<>())).add(Integer.parseInt(kv[1]));
                count.incrementAndGet();
            }
            return ConsumeOrderlyStatus.SUCCESS;
        };
        DefaultMQPushConsumer first = orderly(group, topic, listener);
        Wait.until("half the ordered messages", 120_000, count::get, n -> n >= keys * perKey / 2);
        first.shutdown(); // commits its offsets and unlocks its queues
        DefaultMQPushConsumer second = orderly(group, topic, listener);
        Wait.until("every key complete", 120_000,
            () -> seen.values().stream().filter(l -> l.size() >= perKey && l.get(l.size() - 1) == perKey - 1).count(), n -> n == keys);
        second.shutdown();
        for (int k = 0; k < keys; k++) {
            List<Integer> got = new ArrayList<>(seen.get(k));
            // Strict order: each message follows its predecessor. After the restart a consumer may
            // replay the tail of what its predecessor processed but did not commit; that replay starts
            // at an earlier message and continues in order, so no message ever precedes its predecessor
            // without repeating everything after it.
            for (int j = 1; j < got.size(); j++) {
                int prev = got.get(j - 1), cur = got.get(j);
                assertTrue(cur == prev + 1 || cur <= prev, "key " + k + ": " + prev + " then " + cur);
            }
            assertEquals(perKey, new java.util.TreeSet<>(got).size(), "key " + k + ": every message");
            assertEquals(perKey - 1, got.get(got.size() - 1), "key " + k + ": ends with the last message");
        }
    }

    static DefaultMQPushConsumer orderly(String group, String topic, MessageListenerOrderly listener) throws Exception {
        return Clients.pushWith(H, namesrv, group, topic, listener, c -> c.setPersistConsumerOffsetInterval(500));
    }

    @Test
    void broadcastConsumersEachReceiveEverything() throws Exception {
        String topic = Clients.unique("BroadcastTopic");
        String group = Clients.unique("broadcast_group");
        List<String> sent = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            Message m = new Message(topic, "T", ("b-" + i).getBytes(StandardCharsets.UTF_8));
            assertEquals(SendStatus.SEND_OK, producer.send(m).getSendStatus());
            sent.add("b-" + i);
        }
        List<Map<String, Integer>> got = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Map<String, Integer> mine = new ConcurrentHashMap<>();
            got.add(mine);
            Clients.pushWith(H, namesrv, group, topic, (MessageListenerConcurrently) (msgs, ctx) -> {
                msgs.forEach(m -> mine.merge(new String(m.getBody(), StandardCharsets.UTF_8), 1, Integer::sum));
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            }, c -> c.setMessageModel(MessageModel.BROADCASTING));
        }
        for (Map<String, Integer> mine : got) {
            Wait.until("a broadcast consumer's messages", 60_000, () -> mine.size(), n -> n == sent.size());
        }
        Thread.sleep(1000);
        for (Map<String, Integer> mine : got) {
            Map<String, Integer> want = new TreeMap<>();
            sent.forEach(s -> want.put(s, 1));
            assertEquals(want, new TreeMap<>(mine), "each consumer gets every message once");
        }
    }
}
