package rocketry.bench;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;

/**
 * A catch-up consumer on the official Java client, in the manner of RocketMQ's benchmark
 * Consumer: a push consumer in a new group drains `topic` from its first offset until it has
 * `expected` messages or `seconds` pass. Prints one JSON line: msgs, seconds (first message to
 * last), msgs_per_sec.
 *
 * <p>Usage: JavaConsumer namesrv topic expected seconds
 */
public final class JavaConsumer {
    public static void main(String[] args) throws Exception {
        String namesrv = args[0];
        String topic = args[1];
        long expected = Long.parseLong(args[2]);
        long seconds = Long.parseLong(args[3]);

        AtomicLong count = new AtomicLong();
        AtomicLong first = new AtomicLong();
        AtomicLong last = new AtomicLong();
        CountDownLatch done = new CountDownLatch(1);
        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer("rocketry_bench_java_consumer_" + ProcessHandle.current().pid());
        consumer.setNamesrvAddr(namesrv);
        consumer.setInstanceName("bench-" + ProcessHandle.current().pid());
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.setConsumeMessageBatchMaxSize(32);
        consumer.setPullBatchSize(32);
        consumer.subscribe(topic, "*");
        consumer.registerMessageListener((MessageListenerConcurrently) (msgs, context) -> {
            long now = System.nanoTime();
            first.compareAndSet(0, now);
            last.set(now);
            if (count.addAndGet(msgs.size()) >= expected) {
                done.countDown();
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        consumer.start();
        done.await(seconds, TimeUnit.SECONDS);
        long n = count.get();
        double elapsed = Math.max(1, last.get() - first.get()) / 1e9;
        consumer.shutdown();
        System.out.printf("{\"msgs\":%d,\"seconds\":%.3f,\"msgs_per_sec\":%.1f}%n", n, elapsed, n / elapsed);
        System.exit(0);
    }
}
