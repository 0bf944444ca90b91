package rocketry.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;

/**
 * A load generator on the official Java client, in the manner of RocketMQ's benchmark Producer:
 * `threads` threads send `size`-byte messages synchronously to `topic` for `seconds` seconds.
 * Prints one JSON line: msgs, seconds, msgs_per_sec, errors and send latency percentiles in µs.
 *
 * <p>Usage: JavaProducer namesrv topic threads seconds size
 */
public final class JavaProducer {
    public static void main(String[] args) throws Exception {
        String namesrv = args[0];
        String topic = args[1];
        int threads = Integer.parseInt(args[2]);
        long seconds = Long.parseLong(args[3]);
        int size = Integer.parseInt(args[4]);

        DefaultMQProducer producer = new DefaultMQProducer("rocketry_bench_java_producer");
        producer.setNamesrvAddr(namesrv);
        producer.setInstanceName("bench-" + ProcessHandle.current().pid());
        producer.setSendMsgTimeout(10_000);
        producer.setCompressMsgBodyOverHowmuch(Integer.MAX_VALUE);
        producer.start();
        byte[] body = new byte[size];
        Arrays.fill(body, (byte) 'x');
        // Warm the route (and the topic, when the broker creates it on first send).
        producer.send(new Message(topic, body));

        AtomicLong errors = new AtomicLong();
        List<long[]> perThread = new ArrayList<>();
        List<Thread> workers = new ArrayList<>();
        long start = System.nanoTime();
        long deadline = start + seconds * 1_000_000_000L;
        for (int t = 0; t < threads; t++) {
            long[][] slot = {new long[1 << 16]};
            int[] n = {0};
            Thread w = new Thread(() -> {
                while (System.nanoTime() < deadline) {
                    long t0 = System.nanoTime();
                    try {
                        if (producer.send(new Message(topic, body)).getSendStatus() != SendStatus.SEND_OK) {
                            errors.incrementAndGet();
                            continue;
                        }
                    } catch (Exception e) {
                        errors.incrementAndGet();
                        continue;
                    }
                    if (n[0] == slot[0].length) {
                        slot[0] = Arrays.copyOf(slot[0], slot[0].length * 2);
                    }
                    slot[0][n[0]++] = (System.nanoTime() - t0) / 1000;
                }
                synchronized (perThread) {
                    perThread.add(Arrays.copyOf(slot[0], n[0]));
                }
            });
            workers.add(w);
            w.start();
        }
        for (Thread w : workers) {
            w.join();
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        producer.shutdown();
        long[] all = perThread.stream().flatMapToLong(Arrays::stream).sorted().toArray();
        long total = all.length;
        System.out.printf("{\"msgs\":%d,\"seconds\":%.3f,\"msgs_per_sec\":%.1f,\"errors\":%d,"
                + "\"latency_us\":{\"p50\":%d,\"p99\":%d,\"p999\":%d,\"max\":%d}}%n",
            total, elapsed, total / elapsed, errors.get(), pct(all, 0.5), pct(all, 0.99), pct(all, 0.999),
            total == 0 ? 0 : all[all.length - 1]);
        System.exit(0);
    }

    private static long pct(long[] sorted, double q) {
        if (sorted.length == 0) {
            return 0;
        }
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
    }
}
