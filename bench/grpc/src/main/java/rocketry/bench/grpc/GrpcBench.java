package rocketry.bench.grpc;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.apis.ClientConfiguration;
import org.apache.rocketmq.client.apis.ClientServiceProvider;
import org.apache.rocketmq.client.apis.consumer.ConsumeResult;
import org.apache.rocketmq.client.apis.consumer.FilterExpression;
import org.apache.rocketmq.client.apis.consumer.PushConsumer;
import org.apache.rocketmq.client.apis.consumer.SimpleConsumer;
import org.apache.rocketmq.client.apis.message.Message;
import org.apache.rocketmq.client.apis.message.MessageView;
import org.apache.rocketmq.client.apis.producer.Producer;

/**
 * A load generator on the official RocketMQ 5.x gRPC SDK (plaintext), for bench/grpc.sh. Prints one
 * JSON line of results; `client_cpu` is the load generator's own CPU time over the wall time of the
 * measurement (near 1.0 on one pinned core: the client, not the broker, set the pace).
 *
 * <pre>
 *   produce ENDPOINT TOPIC THREADS SECONDS SIZE [WARM_TOPIC WARM_SECONDS]
 *       first, unmeasured, the same load into WARM_TOPIC for WARM_SECONDS (the JIT of this process
 *       and of a Java broker warms up); then THREADS threads send SIZE-byte messages synchronously
 *       to TOPIC for SECONDS seconds: msgs, msgs_per_sec,
 *       errors, send latency p50/p99/p999/max in µs, and `stored` (every message stored, the one
 *       unmeasured send that fetches the route included: what a consumer can drain).
 *   produce-async ENDPOINT TOPIC WINDOW SECONDS SIZE [WARM_TOPIC WARM_SECONDS]
 *       the same with one thread keeping WINDOW asynchronous sends in flight (sendAsync).
 *   simple ENDPOINT TOPIC GROUP EXPECTED SECONDS THREADS
 *       THREADS threads each receive up to 32 messages from a SimpleConsumer, ack every one
 *       (asynchronously, all of an answer's acks awaited before the next receive) until EXPECTED
 *       messages are acked, SECONDS pass, or 5 s go by with nothing received.
 *   push ENDPOINT TOPIC GROUP EXPECTED SECONDS THREADS
 *       a PushConsumer with THREADS consumption threads (each message acked by the SDK on SUCCESS)
 *       until EXPECTED messages are consumed, SECONDS pass, or 5 s go by with nothing consumed.
 * </pre>
 *
 * <p>With BROKER_PIDS (space-separated process ids) and CLK_TCK in the environment, each mode also
 * reports the broker side's CPU time over the measurement from /proc: `broker_cpu` (cores) and
 * `broker_cpu_us_per_msg`.
 *
 * <p>Consumers report msgs, seconds (first message to last), msgs_per_sec and first_ms (from the
 * consumer's start to its first message).
 */
public final class GrpcBench {
    private static final ClientServiceProvider PROVIDER = ClientServiceProvider.loadService();
    /** produce-async's latency buffers ({samples, {count}}), one per completing thread. */
    private static final List<long[][]> asyncBuffers = new ArrayList<>();
    private static final long IDLE_NANOS = TimeUnit.SECONDS.toNanos(5);

    public static void main(String[] args) throws Exception {
        ClientConfiguration config = ClientConfiguration.newBuilder()
            .setEndpoints(args[1])
            .enableSsl(false)
            .setRequestTimeout(Duration.ofSeconds(10))
            .build();
        switch (args[0]) {
            case "produce", "produce-async" -> {
                boolean async = args[0].equals("produce-async");
                String topic = args[2];
                int threads = Integer.parseInt(args[3]);
                int size = Integer.parseInt(args[5]);
                String warmTopic = args.length > 7 ? args[6] : null;
                Producer producer = PROVIDER.newProducerBuilder().setClientConfiguration(config)
                    .setTopics(warmTopic == null ? new String[] {topic} : new String[] {topic, warmTopic}).build();
                if (warmTopic != null) {
                    produce(producer, warmTopic, threads, Long.parseLong(args[7]), size, async, false);
                }
                produce(producer, topic, threads, Long.parseLong(args[4]), size, async, true);
            }
            case "simple", "push" -> consume(args[0], config, args[2], args[3], Long.parseLong(args[4]), Long.parseLong(args[5]),
                Integer.parseInt(args[6]));
            default -> throw new IllegalArgumentException("mode: produce, simple or push");
        }
        System.exit(0);
    }

    /** The broker side's user+system time so far, in ns; 0 without BROKER_PIDS. */
    private static long brokerNanos() {
        String pids = System.getenv("BROKER_PIDS");
        if (pids == null || pids.isBlank()) {
            return 0;
        }
        long hz = Long.parseLong(System.getenv().getOrDefault("CLK_TCK", "100"));
        long ticks = 0;
        for (String pid : pids.trim().split("\\s+")) {
            try {
                String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc", pid, "stat"));
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                ticks += Long.parseLong(f[11]) + Long.parseLong(f[12]);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        return ticks * 1_000_000_000L / hz;
    }

    /** `"broker_cpu":…,"broker_cpu_us_per_msg":…,` for the interval since (wall0, broker0). */
    private static String brokerCpu(long wall0, long broker0, long msgs) {
        double cpu = (brokerNanos() - broker0) / 1e9;
        double wall = (System.nanoTime() - wall0) / 1e9;
        return String.format("\"broker_cpu\":%.2f,\"broker_cpu_us_per_msg\":%.2f,", cpu / wall, msgs == 0 ? 0 : cpu * 1e6 / msgs);
    }

    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    private static void produce(Producer producer, String topic, int threads, long seconds, int size, boolean async,
        boolean report) throws Exception {
        byte[] body = new byte[size];
        Arrays.fill(body, (byte) 'x');
        // Fetches the route (and opens the connection) before the clock starts.
        producer.send(PROVIDER.newMessageBuilder().setTopic(topic).setBody(body).build());

        AtomicLong errors = new AtomicLong();
        List<long[]> perThread = new ArrayList<>();
        List<Thread> workers = new ArrayList<>();
        long cpu0 = cpuNanos();
        long broker0 = brokerNanos();
        long start = System.nanoTime();
        long deadline = start + TimeUnit.SECONDS.toNanos(seconds);
        if (async) {
            // One thread keeps `threads` sends in flight; each completion records its latency in
            // its own thread's buffer.
            Semaphore window = new Semaphore(threads);
            ThreadLocal<long[][]> buf = ThreadLocal.withInitial(() -> {
                long[][] b = {new long[1 << 16], {0}};
                synchronized (perThread) {
                    asyncBuffers.add(b);
                }
                return b;
            });
            while (System.nanoTime() < deadline) {
                window.acquire();
                Message m = PROVIDER.newMessageBuilder().setTopic(topic).setBody(body).build();
                long t0 = System.nanoTime();
                producer.sendAsync(m).whenComplete((receipt, e) -> {
                    if (e != null) {
                        errors.incrementAndGet();
                    } else {
                        long[][] b = buf.get();
                        int n = (int) b[1][0];
                        if (n == b[0].length) {
                            b[0] = Arrays.copyOf(b[0], n * 2);
                        }
                        b[0][n] = (System.nanoTime() - t0) / 1000;
                        b[1][0] = n + 1;
                    }
                    window.release();
                });
            }
            window.acquire(threads);
            synchronized (perThread) {
                for (long[][] b : asyncBuffers) {
                    perThread.add(Arrays.copyOf(b[0], (int) b[1][0]));
                }
                asyncBuffers.clear();
            }
        }
        for (int t = 0; t < (async ? 0 : threads); t++) {
            Thread w = new Thread(() -> {
                long[] lat = new long[1 << 16];
                int n = 0;
                while (System.nanoTime() < deadline) {
                    Message m = PROVIDER.newMessageBuilder().setTopic(topic).setBody(body).build();
                    long t0 = System.nanoTime();
                    try {
                        producer.send(m);
                    } catch (Exception e) {
                        errors.incrementAndGet();
                        continue;
                    }
                    if (n == lat.length) {
                        lat = Arrays.copyOf(lat, lat.length * 2);
                    }
                    lat[n++] = (System.nanoTime() - t0) / 1000;
                }
                synchronized (perThread) {
                    perThread.add(Arrays.copyOf(lat, n));
                }
            });
            workers.add(w);
            w.start();
        }
        for (Thread w : workers) {
            w.join();
        }
        long total = perThread.stream().mapToLong(a -> a.length).sum();
        String broker = brokerCpu(start, broker0, total);
        double elapsed = (System.nanoTime() - start) / 1e9;
        double cpu = (cpuNanos() - cpu0) / 1e9;
        if (!report) {
            return;
        }
        long[] all = perThread.stream().flatMapToLong(Arrays::stream).sorted().toArray();
        System.out.printf("{\"mode\":\"%s\",\"msgs\":%d,\"stored\":%d,\"seconds\":%.3f,\"msgs_per_sec\":%.1f,\"errors\":%d,"
                + "%s\"client_cpu\":%.2f,\"latency_us\":{\"p50\":%d,\"p99\":%d,\"p999\":%d,\"max\":%d}}%n",
            async ? "produce-async" : "produce", total, total + 1, elapsed, total / elapsed, errors.get(), broker, cpu / elapsed, pct(all, 0.5), pct(all, 0.99),
            pct(all, 0.999), total == 0 ? 0 : all[all.length - 1]);
    }

    private static void consume(String mode, ClientConfiguration config, String topic, String group, long expected,
        long seconds, int threads) throws Exception {
        Map<String, FilterExpression> sub = Map.of(topic, FilterExpression.SUB_ALL);
        AtomicLong count = new AtomicLong();
        AtomicLong first = new AtomicLong();
        AtomicLong last = new AtomicLong();
        CountDownLatch done = new CountDownLatch(1);
        long cpu0 = cpuNanos();
        long broker0 = brokerNanos();
        long start = System.nanoTime();
        long deadline = start + TimeUnit.SECONDS.toNanos(seconds);
        Runnable got = () -> {
            long now = System.nanoTime();
            first.compareAndSet(0, now);
            last.set(now);
            if (count.incrementAndGet() >= expected) {
                done.countDown();
            }
        };
        if (mode.equals("push")) {
            PushConsumer consumer = PROVIDER.newPushConsumerBuilder()
                .setClientConfiguration(config)
                .setConsumerGroup(group)
                .setSubscriptionExpressions(sub)
                .setConsumptionThreadCount(threads)
                .setMessageListener(view -> {
                    got.run();
                    return ConsumeResult.SUCCESS;
                })
                .build();
        } else {
            SimpleConsumer consumer = PROVIDER.newSimpleConsumerBuilder()
                .setClientConfiguration(config)
                .setConsumerGroup(group)
                .setSubscriptionExpressions(sub)
                .setAwaitDuration(Duration.ofSeconds(2))
                .build();
            for (int t = 0; t < threads; t++) {
                Thread w = new Thread(() -> {
                    while (done.getCount() > 0 && System.nanoTime() < deadline) {
                        List<MessageView> views;
                        try {
                            views = consumer.receive(32, Duration.ofSeconds(60));
                        } catch (Exception e) {
                            continue;
                        }
                        CompletableFuture<?>[] acks = new CompletableFuture<?>[views.size()];
                        for (int i = 0; i < acks.length; i++) {
                            acks[i] = consumer.ackAsync(views.get(i)).thenRun(got);
                        }
                        try {
                            CompletableFuture.allOf(acks).join();
                        } catch (Exception e) {
                            // an ack that failed is not counted
                        }
                    }
                });
                w.setDaemon(true);
                w.start();
            }
        }
        // Until every message is in, the time is up, or nothing has come for IDLE_NANOS.
        while (!done.await(100, TimeUnit.MILLISECONDS)) {
            long now = System.nanoTime();
            long seen = last.get() == 0 ? start : last.get();
            if (now >= deadline || (first.get() != 0 && now - seen > IDLE_NANOS)) {
                break;
            }
        }
        long n = count.get();
        String broker = brokerCpu(start, broker0, n);
        double elapsedAll = (System.nanoTime() - start) / 1e9;
        double cpu = (cpuNanos() - cpu0) / 1e9;
        double elapsed = Math.max(1, last.get() - first.get()) / 1e9;
        System.out.printf("{\"mode\":\"%s\",\"msgs\":%d,\"expected\":%d,\"seconds\":%.3f,\"msgs_per_sec\":%.1f,"
                + "\"first_ms\":%d,%s\"client_cpu\":%.2f}%n",
            mode, n, expected, elapsed, n / elapsed, first.get() == 0 ? -1 : (first.get() - start) / 1_000_000, broker,
            cpu / elapsedAll);
    }

    private static long pct(long[] sorted, double q) {
        if (sorted.length == 0) {
            return 0;
        }
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
    }
}
