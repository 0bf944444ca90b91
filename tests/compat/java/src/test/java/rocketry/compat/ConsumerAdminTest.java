package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.remoting.protocol.admin.ConsumeStats;
import org.apache.rocketmq.remoting.protocol.admin.OffsetWrapper;
import org.apache.rocketmq.remoting.protocol.body.Connection;
import org.apache.rocketmq.remoting.protocol.body.ConsumerConnection;
import org.apache.rocketmq.remoting.protocol.body.ConsumerRunningInfo;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What an operator sees of a live consumer group: GET_CONSUMER_CONNECTION_LIST (203),
 * GET_CONSUME_STATS (208, lag per queue) and GET_CONSUMER_RUNNING_INFO (307, relayed by the
 * broker to the consumer's own connection).
 */
class ConsumerAdminTest {
    @RegisterExtension
    static final Harness H = new Harness("consumeradmin");

    @Test
    void connectionsLagAndRunningInfo() throws Exception {
        String namesrv = Clients.standalone(H).namesrv();
        DefaultMQProducer producer = Clients.producer(H, namesrv);
        DefaultMQAdminExt admin = Clients.admin(H, namesrv);
        String topic = Clients.unique("StatsTopic");
        String group = Clients.unique("stats_group");
        for (int i = 0; i < 40; i++) {
            producer.send(new Message(topic, "T", ("s-" + i).getBytes(StandardCharsets.UTF_8)));
        }
        java.util.concurrent.atomic.AtomicInteger consumed = new java.util.concurrent.atomic.AtomicInteger();
        Clients.pushWith(H, namesrv, group, topic, (MessageListenerConcurrently) (msgs, ctx) -> {
            consumed.addAndGet(msgs.size());
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        }, c -> c.setPersistConsumerOffsetInterval(500));
        Wait.until("all consumed", 60_000, consumed::get, n -> n >= 40);

        ConsumerConnection conn = admin.examineConsumerConnectionInfo(group);
        assertEquals(1, conn.getConnectionSet().size());
        Connection only = conn.getConnectionSet().iterator().next();
        String clientId = only.getClientId();
        assertTrue(conn.getSubscriptionTable().containsKey(topic), conn.getSubscriptionTable().toString());

        ConsumeStats stats = Wait.until("lag 0 after the offsets are committed", 20_000, () -> admin.examineConsumeStats(group, topic),
            s -> s.getOffsetTable().values().stream().mapToLong(OffsetWrapper::getBrokerOffset).sum() == 40 && s.computeTotalDiff() == 0);
        assertEquals(0, stats.computeTotalDiff());

        ConsumerRunningInfo info = admin.getConsumerRunningInfo(group, clientId, false);
        assertTrue(info.getSubscriptionSet().stream().anyMatch(s -> s.getTopic().equals(topic)), "running info names the subscription");
        assertFalse(info.getMqTable().isEmpty(), "running info lists the consumer's queues");
    }
}
