package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.remoting.protocol.subscription.SubscriptionGroupConfig;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * POP consumption with the official Java 5.3.3 push consumer: built with setClientRebalance(false),
 * it asks the broker for its queues (QUERY_ASSIGNMENT, 400); once its group is switched to POP
 * (mqadmin setConsumeMode or `rocketry admin setConsumeMode`, SET_MESSAGE_REQUEST_MODE 401) it pops (200050), acks each message
 * (200051) and, for RECONSUME_LATER, changes the invisible time (200053).
 */
class PopConsumerTest {
    @RegisterExtension
    static final Harness H = new Harness("pop");

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

    static List<String> sendAll(String topic, int n) throws Exception {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String id = topic + "-" + i;
            Message m = new Message(topic, "T", id.getBytes(StandardCharsets.UTF_8));
            m.putUserProperty("id", id);
            assertEquals(SendStatus.SEND_OK, producer.send(m).getSendStatus());
            ids.add(id);
        }
        return ids;
    }

    /** Runs `rocketry admin ARGS…` and returns its standard output; fails on a non-zero exit. */
    static String rocketryAdmin(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Rocketry.binary().toString(), "admin"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out;
    }

    static void popConsumer(String group, String topic, MessageListenerConcurrently listener) throws Exception {
        Clients.pushWith(H, namesrv, group, topic, listener, c -> {
            c.setClientRebalance(false);
            c.setPopInvisibleTime(5000);
            c.setConsumeMessageBatchMaxSize(1);
        });
    }

    @Test
    void aGroupSwitchedToPopByMqadminGetsEveryMessageOnceAndAcksHold() throws Exception {
        String topic = Clients.unique("PopTopic");
        String group = Clients.unique("pop_group");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 4, 4, 6));
        SubscriptionGroupConfig g = new SubscriptionGroupConfig();
        g.setGroupName(group);
        admin.createAndUpdateSubscriptionGroupConfig(brokerAddr, g);
        String out = AdminCommandsTest.mqadmin("setConsumeMode", "-n", namesrv, "-b", brokerAddr, "-t", topic, "-g", group, "-m", "POP");
        assertTrue(out.contains("set consume mode to " + brokerAddr + " success."), out);
        List<String> sent = sendAll(topic, 40);
        Map<String, Integer> deliveries = new ConcurrentHashMap<>();
        Set<String> handles = ConcurrentHashMap.newKeySet();
        popConsumer(group, topic, (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                deliveries.merge(m.getUserProperty("id"), 1, Integer::sum);
                // Only a popped message carries a receipt handle.
                if (m.getProperty("POP_CK") != null) {
                    handles.add(m.getUserProperty("id"));
                }
                assertEquals(topic, m.getTopic());
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        Wait.until("all 40 popped", 60_000, () -> deliveries.size(), n -> n == sent.size());
        assertEquals(new TreeSet<>(sent), new TreeSet<>(handles), "every message came by POP");
        // Past the 5 s invisible time: an acknowledged message does not come back.
        Thread.sleep(8000);
        Map<String, Integer> once = new TreeMap<>();
        sent.forEach(id -> once.put(id, 1));
        assertEquals(once, new TreeMap<>(deliveries));
    }

    @Test
    void reconsumeLaterRedeliversWithAGrowingCountThenTheDlq() throws Exception {
        String topic = Clients.unique("PopRetryTopic");
        String group = Clients.unique("pop_retry_group");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 2, 2, 6));
        SubscriptionGroupConfig g = new SubscriptionGroupConfig();
        g.setGroupName(group);
        g.setRetryMaxTimes(1);
        admin.createAndUpdateSubscriptionGroupConfig(brokerAddr, g);
        // Our own admin this time, by cluster (-c): every master of it.
        String out = rocketryAdmin("setConsumeMode", "-n", namesrv, "-c", "DefaultCluster", "-t", topic, "-g", group, "-m", "POP");
        assertTrue(out.contains("set consume mode to " + brokerAddr + " success."), out);
        List<String> sent = sendAll(topic, 3);
        Map<String, List<Integer>> counts = new ConcurrentHashMap<>();
        Map<String, String> ids = new ConcurrentHashMap<>();
        popConsumer(group, topic, (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                counts.computeIfAbsent(m.getUserProperty("id"), k -> java.util.Collections.synchronizedList(new ArrayList<>())).add(m.getReconsumeTimes());
                ids.merge(m.getUserProperty("id"), m.getMsgId(), (a, b) -> a.equals(b) ? a : a + "!=" + b);
            }
            return ConsumeConcurrentlyStatus.RECONSUME_LATER;
        });
        // The client asks 10 s more invisibility after a first failure, then 30 s.
        Wait.until("each message delivered twice", 60_000, () -> counts.values().stream().filter(c -> c.size() >= 2).count(), n -> n == sent.size());
        Map<String, String> dead = new ConcurrentHashMap<>();
        Clients.pushWith(H, namesrv, Clients.unique("pop_dlq_reader"), "%DLQ%" + group, (MessageListenerConcurrently) (msgs, ctx) -> {
            msgs.forEach(m -> dead.put(m.getUserProperty("id"), m.getMsgId()));
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        }, c -> { });
        Wait.until("all in the DLQ after retryMaxTimes=1", 60_000, () -> dead.size(), n -> n == sent.size());
        for (String id : sent) {
            assertEquals(List.of(0, 1), counts.get(id), "reconsume times seen for " + id);
            assertNotNull(ids.get(id));
            assertTrue(!ids.get(id).contains("!="), "one message id across redeliveries: " + ids.get(id));
            assertEquals(ids.get(id), dead.get(id), "the DLQ copy keeps the message id");
        }
    }
}
