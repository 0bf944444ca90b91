package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.text.SimpleDateFormat;
import java.util.Date;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Where a new consumer group starts (QUERY_CONSUMER_OFFSET answering QUERY_NOT_FOUND or 0), as RocketMQ:
 * a queue whose first message is still in memory starts at 0 whatever ConsumeFromWhere says; otherwise
 * CONSUME_FROM_LAST_OFFSET starts at the max offset and CONSUME_FROM_TIMESTAMP at the first message
 * stored at or after the timestamp. `accessMessageInMemoryMaxRatio=0` makes no message count as in memory.
 */
class ConsumeFromWhereTest {
    @RegisterExtension
    static final Harness H = new Harness("consumefrom");

    record Setup(String namesrv, DefaultMQProducer producer, String topic) { }

    static Setup broker(String... conf) throws Exception {
        Clients.Addrs a = Clients.standalone(H, conf);
        DefaultMQProducer producer = Clients.producer(H, a.namesrv());
        DefaultMQAdminExt admin = Clients.admin(H, a.namesrv());
        String topic = Clients.unique("FromTopic");
        admin.createAndUpdateTopicConfig(a.brokerAddr(), new TopicConfig(topic, 4, 4, 6));
        Wait.until("route of " + topic, 10_000, () -> producer.fetchPublishMessageQueues(topic).size(), n -> n == 4);
        return new Setup(a.namesrv(), producer, topic);
    }

    static Set<String> send(Setup s, String prefix, int n) throws Exception {
        Set<String> ids = new TreeSet<>();
        for (int i = 0; i < n; i++) {
            String id = prefix + "-" + i;
            assertEquals(SendStatus.SEND_OK, s.producer().send(new Message(s.topic(), "T", id.getBytes(StandardCharsets.UTF_8))).getSendStatus());
            ids.add(id);
        }
        return ids;
    }

    /** Starts a consumer and waits until it has placed all 4 queues (their start offsets are decided). */
    static Map<String, Integer> consume(Setup s, ConsumeFromWhere from, String timestamp) throws Exception {
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = Clients.pushWith(H, s.namesrv(), Clients.unique("from_group"), s.topic(),
            (MessageListenerConcurrently) (msgs, ctx) -> {
                msgs.forEach(m -> seen.merge(new String(m.getBody(), StandardCharsets.UTF_8), 1, Integer::sum));
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            }, x -> {
                x.setConsumeFromWhere(from);
                if (timestamp != null) {
                    x.setConsumeTimestamp(timestamp);
                }
            });
        // The group's retry topic gets a process queue too; count the topic's own.
        Wait.until("4 queues placed", 30_000,
            () -> c.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().keySet().stream()
                .filter(mq -> mq.getTopic().equals(s.topic())).count(), n -> n == 4);
        return seen;
    }

    static void assertExactly(Set<String> want, Map<String, Integer> seen) throws Exception {
        Wait.until(want.size() + " messages", 60_000, () -> seen.size(), n -> n >= want.size());
        Thread.sleep(1000);
        Map<String, Integer> once = new TreeMap<>();
        want.forEach(id -> once.put(id, 1));
        assertEquals(once, new TreeMap<>(seen));
    }

    @Test
    void lastOffsetSkipsWhatWasStoredBefore() throws Exception {
        Setup s = broker("accessMessageInMemoryMaxRatio=0");
        send(s, "old", 20);
        Map<String, Integer> seen = consume(s, ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET, null);
        assertExactly(send(s, "new", 20), seen);
    }

    @Test
    void timestampStartsAtTheFirstMessageStoredAfterIt() throws Exception {
        Setup s = broker("accessMessageInMemoryMaxRatio=0");
        send(s, "old", 20);
        Thread.sleep(2100);
        // ConsumeFromWhere's timestamp has whole seconds, in the client's time zone.
        String at = new SimpleDateFormat("yyyyMMddHHmmss").format(new Date());
        Thread.sleep(1100);
        Set<String> after = send(s, "new", 20);
        Map<String, Integer> seen = consume(s, ConsumeFromWhere.CONSUME_FROM_TIMESTAMP, at);
        after.addAll(send(s, "later", 5));
        assertExactly(after, seen);
    }

    @Test
    void aYoungQueueStartsAtZeroEvenFromLastOffset() throws Exception {
        Setup s = broker();
        Set<String> all = send(s, "old", 20);
        Map<String, Integer> seen = consume(s, ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET, null);
        all.addAll(send(s, "new", 20));
        assertExactly(all, seen);
    }
}
