package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A broker restarted twice (SIGKILL, then SIGTERM) while a Java producer sends without pause and a
 * push consumer consumes: every send the producer saw succeed is consumed (duplicates allowed:
 * delivery is at least once), and the only errors the application sees are failed sends while the
 * broker is down (the client's documented MQClientException / RemotingException), never after it is back.
 */
class BrokerRestartUnderLoadTest {
    @RegisterExtension
    static final Harness H = new Harness("restart-under-load");

    @Test
    void clientsRideThroughRestarts() throws Exception {
        int[] ports = Rocketry.freePorts(2);
        Rocketry.Proc proc = H.env().standalone("standalone", H.env().newDataDir("data"), ports[0], ports[1]);
        String namesrv = Rocketry.LOOPBACK + ":" + ports[0];
        Clients.awaitAutoCreateRoute(H, namesrv, Set.of("broker-a"));
        String topic = Clients.unique("UnderLoad");
        DefaultMQProducer producer = Clients.producer(H, namesrv);
        producer.setSendMsgTimeout(3000);
        producer.send(new Message(topic, "warm".getBytes(StandardCharsets.UTF_8)));

        Map<String, Integer> consumed = new ConcurrentHashMap<>();
        Clients.pushWith(H, namesrv, Clients.unique("underload_group"), topic, (MessageListenerConcurrently) (msgs, ctx) -> {
            msgs.forEach(m -> consumed.merge(new String(m.getBody(), StandardCharsets.UTF_8), 1, Integer::sum));
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        }, c -> {
            c.setPollNameServerInterval(1000);
            c.setHeartbeatBrokerInterval(1000);
            c.setPersistConsumerOffsetInterval(1000);
        });

        Set<String> acked = ConcurrentHashMap.newKeySet();
        Map<String, Integer> errors = new ConcurrentHashMap<>();
        AtomicBoolean brokerUp = new AtomicBoolean(true);
        AtomicBoolean running = new AtomicBoolean(true);
        Map<String, Integer> errorsWhileUp = new ConcurrentHashMap<>();
        Thread sender = new Thread(() -> {
            for (int i = 0; running.get(); i++) {
                String id = "u-" + i;
                boolean upBefore = brokerUp.get();
                try {
                    SendResult r = producer.send(new Message(topic, "T", id.getBytes(StandardCharsets.UTF_8)));
                    if (r.getSendStatus() == SendStatus.SEND_OK) {
                        acked.add(id);
                    }
                } catch (Exception e) {
                    String kind = e.getClass().getSimpleName();
                    errors.merge(kind, 1, Integer::sum);
                    // Counted only when the broker was up for the whole send and for a while before.
                    if (upBefore && brokerUp.get()) {
                        errorsWhileUp.merge(kind + ": " + e.getMessage(), 1, Integer::sum);
                    }
                    Rocketry.sleep(50);
                }
            }
        });
        sender.start();
        Thread.sleep(3000);
        brokerUp.set(false);
        proc.kill();
        Thread.sleep(1000);
        proc.start();
        Thread.sleep(5000); // clients reconnect and refresh routes
        brokerUp.set(true);
        Thread.sleep(5000);
        brokerUp.set(false);
        proc.terminate();
        proc.start();
        Thread.sleep(5000);
        brokerUp.set(true);
        Thread.sleep(3000);
        running.set(false);
        sender.join();

        assertTrue(acked.size() > 100, "the producer got through: " + acked.size() + " acked, errors " + errors);
        Wait.until("every acknowledged message consumed", 90_000,
            () -> acked.stream().filter(id -> !consumed.containsKey(id)).count(), n -> n == 0);
        long duplicates = consumed.values().stream().filter(n -> n > 1).count();
        System.out.printf("[compat] under load: %d acked, %d consumed, %d duplicated, send errors while down %s%n",
            acked.size(), consumed.size(), duplicates, errors);
        assertEquals(new TreeMap<>(), new TreeMap<>(errorsWhileUp), "no send errors while the broker was up");
    }
}
