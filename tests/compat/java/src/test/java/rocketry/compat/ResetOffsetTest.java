package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Resetting a group's offsets to a timestamp (INVOKE_BROKER_TO_RESET_OFFSET, 222) while it consumes: on the
 * broker (RocketMQ 5's default), and pushed to the clients with RESET_CONSUMER_CLIENT_OFFSET (220) when the
 * broker runs with useServerSideResetOffset=false (the RocketMQ 4 way).
 */
class ResetOffsetTest {
    @RegisterExtension
    static final Harness H = new Harness("reset");

    @Test
    void resetByTimeRedeliversExactlyWhatCameAfter() throws Exception {
        resetByTime();
    }

    @Test
    void resetPushedToTheClientsRedeliversExactlyWhatCameAfter() throws Exception {
        resetByTime("useServerSideResetOffset=false");
    }

    static void resetByTime(String... conf) throws Exception {
        Clients.Addrs a = Clients.standalone(H, conf);
        String namesrv = a.namesrv();
        String brokerAddr = a.brokerAddr();
        DefaultMQProducer producer = Clients.producer(H, namesrv);
        DefaultMQAdminExt admin = Clients.admin(H, namesrv);
        String topic = Clients.unique("ResetTopic");
        String group = Clients.unique("reset_group");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 2, 2, 6));
        Wait.until("route of " + topic, 10_000, () -> producer.fetchPublishMessageQueues(topic).size(), n -> n == 2);

        Map<Integer, Long> firstAfter = new HashMap<>();
        for (int i = 0; i < 10; i++) {
            producer.send(new Message(topic, "T", ("before-" + i).getBytes(StandardCharsets.UTF_8)));
        }
        Thread.sleep(1500);
        long resetTo = System.currentTimeMillis();
        Thread.sleep(100);
        for (int i = 0; i < 10; i++) {
            SendResult r = producer.send(new Message(topic, "T", ("after-" + i).getBytes(StandardCharsets.UTF_8)));
            firstAfter.merge(r.getMessageQueue().getQueueId(), r.getQueueOffset(), Math::min);
        }

        Map<String, Integer> seen = new ConcurrentHashMap<>();
        Clients.pushWith(H, namesrv, group, topic, (MessageListenerConcurrently) (msgs, ctx) -> {
            msgs.forEach(m -> seen.merge(new String(m.getBody(), StandardCharsets.UTF_8), 1, Integer::sum));
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        }, c -> { });
        Wait.until("all 20 consumed once", 60_000, () -> seen.size(), n -> n == 20);
        // A reset pushed to clients moves only queues whose offsets the group has committed.
        Wait.until("the group's offsets committed", 30_000,
            () -> admin.examineConsumeStats(group).getOffsetTable().values().stream().mapToLong(o -> o.getConsumerOffset()).sum(),
            n -> n == 20);

        Map<MessageQueue, Long> reset = admin.resetOffsetByTimestamp(topic, group, resetTo, true);
        Map<Integer, Long> byQueue = new TreeMap<>();
        reset.forEach((mq, off) -> byQueue.put(mq.getQueueId(), off));
        assertEquals(new TreeMap<>(firstAfter), byQueue, "each queue resets to its first message after the timestamp");

        Wait.until("the later messages consumed again", 60_000,
            () -> seen.entrySet().stream().filter(e -> e.getKey().startsWith("after-") && e.getValue() == 2).count(), n -> n == 10);
        Thread.sleep(1000);
        for (int i = 0; i < 10; i++) {
            assertEquals(1, seen.get("before-" + i), "before-" + i + " is not redelivered");
            assertEquals(2, seen.get("after-" + i), "after-" + i + " is redelivered once");
        }
    }
}
