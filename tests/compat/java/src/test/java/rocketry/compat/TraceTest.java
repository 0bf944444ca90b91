package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.trace.TraceContext;
import org.apache.rocketmq.client.trace.TraceDataEncoder;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Message trace (the Java client's enableMsgTrace, default trace topic, broker
 * traceTopicEnable=true): the trace topic holds a Pub record for each message sent and a
 * SubBefore and a SubAfter for each consumed, as with the Java broker. The consumer's trace
 * records carry the region the broker stamps on every message it stores (MSG_REGION); the
 * client drops them without it.
 */
class TraceTest {
    @RegisterExtension
    static final Harness H = new Harness("trace");

    @Test
    void producerAndConsumerTraceRecordsReachTheTraceTopic() throws Exception {
        Clients.Addrs a = Clients.standalone(H, "traceTopicEnable=true");
        String topic = Clients.unique("Traced");
        DefaultMQProducer p = tracedProducer(a.namesrv());
        Map<String, String> sent = new ConcurrentHashMap<>();
        for (int i = 0; i < 10; i++) {
            sent.put(p.send(new Message(topic, "TagA", ("trace " + i).getBytes(StandardCharsets.UTF_8))).getMsgId(), "sent");
        }
        String group = Clients.unique("TraceCG");
        Received got = new Received();
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
        c.setEnableTrace(true);
        c.setNamesrvAddr(a.namesrv());
        c.setInstanceName(Clients.unique("trace-consumer"));
        c.setHeartbeatBrokerInterval(1000);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            msgs.forEach(got::add);
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        H.track(c::shutdown);
        Wait.until("10 messages consumed", 30_000, got::total, n -> n >= 10);
        for (MessageExt m : got.unnamed()) {
            assertEquals("DefaultRegion", m.getProperty("MSG_REGION"), "the broker's region on every stored message");
            assertEquals("true", m.getProperty("TRACE_ON"));
        }

        // Read the trace topic until every record is there: by type, for our messages.
        DefaultLitePullConsumer reader = new DefaultLitePullConsumer(Clients.unique("TraceReader"));
        reader.setNamesrvAddr(a.namesrv());
        reader.setInstanceName(Clients.unique("trace-reader"));
        reader.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        reader.subscribe("RMQ_SYS_TRACE_TOPIC", "*");
        reader.start();
        H.track(reader::shutdown);
        Map<String, Integer> byType = new TreeMap<>();
        long end = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < end && !(byType.getOrDefault("Pub", 0) >= 10 && byType.getOrDefault("SubBefore", 0) >= 10
            && byType.getOrDefault("SubAfter", 0) >= 10)) {
            for (MessageExt m : reader.poll(1000)) {
                for (TraceContext t : TraceDataEncoder.decoderFromTraceDataString(new String(m.getBody(), StandardCharsets.UTF_8))) {
                    boolean ours = t.getTraceBeans().stream().anyMatch(b -> topic.equals(b.getTopic()) || sent.containsKey(b.getMsgId()));
                    if (ours) {
                        byType.merge(t.getTraceType().name(), 1, Integer::sum);
                    }
                }
            }
        }
        assertTrue(byType.getOrDefault("Pub", 0) >= 10 && byType.getOrDefault("SubBefore", 0) >= 10 && byType.getOrDefault("SubAfter", 0) >= 10,
            "trace records by type: " + byType);

        // One message's life, by id: our CLI and the official mqadmin, from the trace topic's key index.
        String id = sent.keySet().iterator().next();
        com.alibaba.fastjson2.JSONArray records = traceOf(a.namesrv(), id);
        String out = records.toString();
        Map<String, String> groupByType = new TreeMap<>();
        for (int i = 0; i < records.size(); i++) {
            groupByType.put(records.getJSONObject(i).getString("type"), records.getJSONObject(i).getString("group"));
        }
        assertEquals(p.getProducerGroup(), groupByType.get("Pub"), out);
        assertEquals(group, groupByType.get("SubBefore"), out);
        assertEquals(group, groupByType.get("SubAfter"), out);
        String mqadmin = AdminCommandsTest.mqadmin("queryMsgTraceById", "-n", a.namesrv(), "-i", id);
        assertTrue(mqadmin.contains(p.getProducerGroup()) && mqadmin.contains(group), mqadmin);
    }

    /** A started producer with message trace on. */
    static DefaultMQProducer tracedProducer(String namesrv) throws Exception {
        DefaultMQProducer p = new DefaultMQProducer(Clients.unique("TracePG"));
        p.setEnableTrace(true);
        p.setNamesrvAddr(namesrv);
        p.setInstanceName(Clients.unique("trace-producer"));
        p.start();
        H.track(p::shutdown);
        return p;
    }

    /** Runs `rocketry admin queryMsgTraceById -i id --json` and returns its records. */
    static com.alibaba.fastjson2.JSONArray traceOf(String namesrv, String id) throws Exception {
        return com.alibaba.fastjson2.JSON.parseObject(Clients.rocketryAdminJson(namesrv, "queryMsgTraceById", "-i", id)).getJSONArray("records");
    }

    /**
     * With brokerTraceEnable the broker records what clients cannot see: a message its consumer
     * keeps failing shows, by its id, the send, each failed consumption, the move to the retry
     * topic, the delayed delivery back, and the move to the dead-letter queue.
     */
    @Test
    void aMessageThatEndsInTheDlqShowsThatPath() throws Exception {
        Clients.Addrs a = Clients.standalone(H, "traceTopicEnable=true", "brokerTraceEnable=true",
            "messageDelayLevel=1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s");
        String topic = Clients.unique("TracedDlq");
        DefaultMQProducer p = tracedProducer(a.namesrv());
        String id = p.send(new Message(topic, "TagA", "doomed".getBytes(StandardCharsets.UTF_8))).getMsgId();
        String group = Clients.unique("TraceDlqCG");
        java.util.concurrent.atomic.AtomicInteger attempts = new java.util.concurrent.atomic.AtomicInteger();
        Clients.pushWith(H, a.namesrv(), group, topic, (MessageListenerConcurrently) (msgs, ctx) -> {
            attempts.addAndGet(msgs.size());
            return ConsumeConcurrentlyStatus.RECONSUME_LATER;
        }, c -> {
            c.setEnableTrace(true);
            c.setMaxReconsumeTimes(1);
        });
        long end = System.currentTimeMillis() + 40_000;
        Map<String, Integer> types = new TreeMap<>();
        while (System.currentTimeMillis() < end && !(types.containsKey("DLQ") && types.getOrDefault("SubAfter", 0) >= 2)) {
            Thread.sleep(500);
            types.clear();
            com.alibaba.fastjson2.JSONArray records = traceOf(a.namesrv(), id);
            for (int i = 0; i < records.size(); i++) {
                types.merge(records.getJSONObject(i).getString("type"), 1, Integer::sum);
            }
        }
        assertTrue(types.containsKey("Pub") && types.getOrDefault("SubBefore", 0) >= 2 && types.getOrDefault("SubAfter", 0) >= 2
            && types.containsKey("Retry") && types.containsKey("Delivered") && types.containsKey("DLQ"), "trace of " + id + ": " + types
            + " after " + attempts.get() + " attempts");
        com.alibaba.fastjson2.JSONArray records = traceOf(a.namesrv(), id);
        for (int i = 0; i < records.size(); i++) {
            com.alibaba.fastjson2.JSONObject r = records.getJSONObject(i);
            if ("DLQ".equals(r.getString("type"))) {
                assertEquals("%DLQ%" + group, r.getString("topic"));
                assertEquals(group, r.getString("group"));
                assertEquals("broker", r.getString("recordedBy"));
            }
        }
        // The official mqadmin reads the broker's records too: Pub rows of the copies, the retry
        // and DLQ moves under the consumer group.
        String mqadmin = AdminCommandsTest.mqadmin("queryMsgTraceById", "-n", a.namesrv(), "-i", id);
        assertTrue(mqadmin.lines().anyMatch(l -> l.startsWith("Pub") && l.contains(group)), mqadmin);
    }
}
