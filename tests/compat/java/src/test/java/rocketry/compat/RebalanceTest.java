package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Three consumers of one group split the queues; one, in its own JVM, is killed (SIGKILL). Its
 * connection closing makes the broker notify the others (NOTIFY_CONSUMER_IDS_CHANGED), which take
 * over its queues: every message is consumed.
 */
class RebalanceTest {
    @RegisterExtension
    static final Harness H = new Harness("rebalance");

    @Test
    void survivorsTakeOverAKilledConsumersQueues() throws Exception {
        Clients.Addrs a = Clients.standalone(H);
        String namesrv = a.namesrv();
        String brokerAddr = a.brokerAddr();
        DefaultMQProducer producer = Clients.producer(H, namesrv);
        DefaultMQAdminExt admin = Clients.admin(H, namesrv);
        String topic = Clients.unique("RebalanceTopic");
        String group = Clients.unique("rebalance_group");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 8, 8, 6));
        Wait.until("route of " + topic, 10_000, () -> producer.fetchPublishMessageQueues(topic).size(), n -> n == 8);

        Path childOut = H.env().newDataDir("child").resolve("consumed.txt");
        Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-cp", System.getProperty("java.class.path"), "-Duser.home=" + childOut.getParent(),
            ConsumerMain.class.getName(), namesrv, group, topic, childOut.toString())
            .redirectErrorStream(true).redirectOutput(childOut.getParent().resolve("child.log").toFile()).start();
        try {
            Wait.until("the child consumer started", 60_000, () -> Files.exists(childOut) && Files.readString(childOut).contains("started"), b -> b);
            Set<String> local = ConcurrentHashMap.newKeySet();
            List<DefaultMQPushConsumer> survivors = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                survivors.add(Clients.pushWith(H, namesrv, group, topic, (MessageListenerConcurrently) (msgs, ctx) -> {
                    msgs.forEach(m -> local.add(new String(m.getBody(), StandardCharsets.UTF_8)));
                    return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
                }, c -> { }));
            }
            Wait.until("three consumers in the group", 30_000, () -> admin.examineConsumerConnectionInfo(group).getConnectionSet().size(), n -> n == 3);

            Set<String> sent = new TreeSet<>();
            for (int i = 0; i < 300; i++) {
                producer.send(new Message(topic, "T", ("m-" + i).getBytes(StandardCharsets.UTF_8)));
                sent.add("m-" + i);
            }
            Wait.until("the first 300 consumed across the three", 60_000, () -> union(local, childOut).containsAll(sent), b -> b);
            assertTrue(childLines(childOut).stream().anyMatch(l -> l.startsWith("m-")), "the child had queues of its own");

            child.destroyForcibly().waitFor();
            Wait.until("the killed consumer leaves the group", 30_000, () -> admin.examineConsumerConnectionInfo(group).getConnectionSet().size(), n -> n == 2);
            Set<String> after = new TreeSet<>();
            for (int i = 0; i < 300; i++) {
                producer.send(new Message(topic, "T", ("n-" + i).getBytes(StandardCharsets.UTF_8)));
                after.add("n-" + i);
            }
            Wait.until("the survivors consume everything sent after the kill", 90_000, () -> local.containsAll(after), b -> b);
            Set<String> all = new TreeSet<>(sent);
            all.addAll(after);
            Set<String> got = union(local, childOut);
            got.remove("started");
            assertEquals(all, got, "every message consumed, nothing else");
        } finally {
            child.destroyForcibly();
        }
    }

    static List<String> childLines(Path f) throws Exception {
        return Files.exists(f) ? Files.readAllLines(f, StandardCharsets.UTF_8) : List.of();
    }

    static Set<String> union(Set<String> local, Path childOut) throws Exception {
        Set<String> u = new TreeSet<>(local);
        u.addAll(childLines(childOut));
        return u;
    }
}
