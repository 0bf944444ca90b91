package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
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
        int[] ports = Rocketry.freePorts(2);
        H.env().standalone("standalone", H.env().newDataDir("data"), ports[0], ports[1]);
        namesrv = Rocketry.LOOPBACK + ":" + ports[0];
        brokerAddr = Rocketry.LOOPBACK + ":" + ports[1];
        producer = Clients.producer(H, namesrv);
        admin = Clients.admin(H, namesrv);
        Clients.awaitAutoCreateRoute(H, namesrv, Set.of("broker-a"));
    }

    @Test
    void orderedMessagesArriveInOrderPerKey() throws Exception {
        String topic = Clients.unique("OrderTopic");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 8, 8, 6));
        Wait.until("route of " + topic, 10_000, () -> producer.fetchPublishMessageQueues(topic).size(), n -> n == 8);
        int keys = 16, perKey = 50;
        for (int i = 0; i < perKey; i++) {
            for (int k = 0; k < keys; k++) {
                Message m = new Message(topic, "T", (k + ":" + i).getBytes(StandardCharsets.UTF_8));
                m.setKeys("order-" + k);
                SendStatus st = producer.send(m, (mqs, msg, arg) -> mqs.get((Integer) arg % mqs.size()), k).getSendStatus();
                assertEquals(SendStatus.SEND_OK, st);
            }
        }
        Map<Integer, List<Integer>> seen = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(Clients.unique("order_group"));
        c.setNamesrvAddr(namesrv);
        c.setInstanceName(Clients.unique("order-consumer"));
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerOrderly) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                String[] kv = new String(m.getBody(), StandardCharsets.UTF_8).split(":");
                seen.computeIfAbsent(Integer.parseInt(kv[0]), x -> Collections.synchronizedList(new ArrayList<>())).add(Integer.parseInt(kv[1]));
            }
            return ConsumeOrderlyStatus.SUCCESS;
        });
        c.start();
        H.track(c::shutdown);
        Wait.until("all ordered messages", 60_000, () -> seen.values().stream().mapToInt(List::size).sum(), n -> n >= keys * perKey);
        List<Integer> expected = new ArrayList<>();
        for (int i = 0; i < perKey; i++) {
            expected.add(i);
        }
        Map<Integer, List<Integer>> want = new TreeMap<>();
        for (int k = 0; k < keys; k++) {
            want.put(k, expected);
        }
        assertEquals(want, new TreeMap<>(seen), "every key's messages exactly once, in send order");
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
            DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
            c.setNamesrvAddr(namesrv);
            c.setInstanceName(Clients.unique("broadcast-" + i));
            c.setMessageModel(MessageModel.BROADCASTING);
            c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
            c.subscribe(topic, "*");
            c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                msgs.forEach(m -> mine.merge(new String(m.getBody(), StandardCharsets.UTF_8), 1, Integer::sum));
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            c.start();
            H.track(c::shutdown);
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
