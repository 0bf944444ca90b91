package rocketry.compat;

import java.io.FileWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;

/** A push consumer in its own JVM, so a test can kill it: writes each message body to a file. */
public final class ConsumerMain {
    public static void main(String[] args) throws Exception {
        String namesrv = args[0], group = args[1], topic = args[2], out = args[3];
        PrintWriter w = new PrintWriter(new FileWriter(out, StandardCharsets.UTF_8, true), true);
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
        c.setNamesrvAddr(namesrv);
        c.setInstanceName("child-" + ProcessHandle.current().pid());
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            synchronized (w) {
                msgs.forEach(m -> w.println(new String(m.getBody(), StandardCharsets.UTF_8)));
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        w.println("started");
        Thread.sleep(Long.MAX_VALUE);
    }
}
