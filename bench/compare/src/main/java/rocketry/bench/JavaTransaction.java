package rocketry.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Transactions on the official Java client ({@link TransactionMQProducer}). Prints one JSON line.
 *
 * <p>{@code send}: `threads` threads call sendMessageInTransaction for `seconds` seconds; the local
 * transaction commits, so each call is the half send (synchronous) and the oneway END_TRANSACTION.
 * Reports msgs/s and the call's latency percentiles in µs, and how many messages reached the topic
 * (its max offsets, up to 10 s after the last call: more than were sent when a broker commits some twice).
 *
 * <p>{@code checkback}: a producer whose local transaction answers UNKNOW sends `count` messages
 * (`threads` threads), then shuts down; a second producer of the same group, whose checker answers
 * COMMIT, starts. Reports the half-send rate, and the time from the second producer's start until
 * a reader of the topic (a lite pull consumer) has seen each of the `count` messages (at most
 * `timeout` seconds): the check-back throughput.
 *
 * <p>Usage: JavaTransaction send namesrv topic threads seconds size
 * <br>JavaTransaction checkback namesrv topic threads count size timeout
 */
public final class JavaTransaction {
    private static final String GROUP = "rocketry_bench_java_tx";

    public static void main(String[] args) throws Exception {
        // Each check answer is a oneway END_TRANSACTION; the client takes a oneway permit on its I/O
        // thread and waits there when none is left (65,535 by default), which stalls that thread,
        // the writes that would free permits with it, and so the client, under a flood of checks.
        System.setProperty("com.rocketmq.remoting.clientOnewaySemaphoreValue", "10000000");
        String mode = args[0];
        String namesrv = args[1];
        String topic = args[2];
        int threads = Integer.parseInt(args[3]);
        long amount = Long.parseLong(args[4]);
        byte[] body = new byte[Integer.parseInt(args[5])];
        Arrays.fill(body, (byte) 'x');
        if (mode.equals("send")) {
            send(namesrv, topic, threads, amount, body);
        } else {
            checkback(namesrv, topic, threads, amount, body, Long.parseLong(args[6]));
        }
        System.exit(0);
    }

    /** A listener whose local transaction and check both answer `state`. */
    private static TransactionListener answering(LocalTransactionState state) {
        return new TransactionListener() {
            @Override
            public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
                return state;
            }

            @Override
            public LocalTransactionState checkLocalTransaction(MessageExt msg) {
                return state;
            }
        };
    }

    private static TransactionMQProducer producer(String namesrv, String instance, LocalTransactionState state,
            ExecutorService checks) throws MQClientException {
        TransactionMQProducer p = new TransactionMQProducer(GROUP);
        p.setNamesrvAddr(namesrv);
        p.setInstanceName(instance + "-" + ProcessHandle.current().pid());
        p.setSendMsgTimeout(10_000);
        p.setCompressMsgBodyOverHowmuch(Integer.MAX_VALUE);
        p.setTransactionListener(answering(state));
        // The default check executor holds at most 2,000 waiting checks and drops the rest; an
        // unbounded queue lets the broker's pace show.
        p.setExecutorService(checks);
        p.start();
        return p;
    }

    private static long topicMessages(TransactionMQProducer p, String topic) throws MQClientException {
        Collection<MessageQueue> queues = p.fetchPublishMessageQueues(topic);
        long sum = 0;
        for (MessageQueue q : queues) {
            sum += p.maxOffset(q);
        }
        return sum;
    }

    /** Polls the topic until it holds `target` messages or `timeoutMs` passes; returns the count. */
    private static long waitFor(TransactionMQProducer p, String topic, long target, long timeoutMs) throws Exception {
        long end = System.currentTimeMillis() + timeoutMs;
        long n = topicMessages(p, topic);
        while (n < target && System.currentTimeMillis() < end) {
            Thread.sleep(20);
            n = topicMessages(p, topic);
        }
        return n;
    }

    /** `threads` threads sending transactionally until `deadline` (ns) or `count` sends in all. */
    private static List<long[]> run(TransactionMQProducer p, String topic, int threads, long deadline, long count,
            byte[] body, AtomicLong errors, Set<String> keys) throws InterruptedException {
        AtomicLong issued = new AtomicLong();
        List<long[]> perThread = new ArrayList<>();
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread w = new Thread(() -> {
                long[] lat = new long[1 << 16];
                int n = 0;
                while (System.nanoTime() < deadline && issued.getAndIncrement() < count) {
                    long t0 = System.nanoTime();
                    try {
                        TransactionSendResult r = p.sendMessageInTransaction(new Message(topic, body), null);
                        if (r.getSendStatus() != SendStatus.SEND_OK) {
                            errors.incrementAndGet();
                            continue;
                        }
                        if (keys != null) {
                            keys.add(r.getMsgId());
                        }
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
        return perThread;
    }

    private static void send(String namesrv, String topic, int threads, long seconds, byte[] body) throws Exception {
        TransactionMQProducer p = producer(namesrv, "tx", LocalTransactionState.COMMIT_MESSAGE, Executors.newFixedThreadPool(4));
        // Warm the route (and the topic, when the broker creates it on first send).
        p.sendMessageInTransaction(new Message(topic, body), null);
        long before = waitFor(p, topic, 1, 5_000);
        AtomicLong errors = new AtomicLong();
        long start = System.nanoTime();
        List<long[]> perThread = run(p, topic, threads, start + seconds * 1_000_000_000L, Long.MAX_VALUE, body, errors, null);
        double elapsed = (System.nanoTime() - start) / 1e9;
        long[] all = perThread.stream().flatMapToLong(Arrays::stream).sorted().toArray();
        long committed = waitFor(p, topic, before + all.length, 10_000) - before;
        p.shutdown();
        System.out.printf("{\"msgs\":%d,\"seconds\":%.3f,\"msgs_per_sec\":%.1f,\"errors\":%d,\"committed\":%d,"
                + "\"latency_us\":{\"p50\":%d,\"p99\":%d,\"p999\":%d,\"max\":%d}}%n",
            all.length, elapsed, all.length / elapsed, errors.get(), committed, pct(all, 0.5), pct(all, 0.99),
            pct(all, 0.999), all.length == 0 ? 0 : all[all.length - 1]);
    }

    private static void checkback(String namesrv, String topic, int threads, long count, byte[] body, long timeout)
            throws Exception {
        // One check executor each: a producer's shutdown shuts its executor down.
        TransactionMQProducer undecided = producer(namesrv, "undecided", LocalTransactionState.UNKNOW,
            Executors.newFixedThreadPool(4));
        Map<MessageQueue, Long> from = new HashMap<>();
        for (MessageQueue q : undecided.fetchPublishMessageQueues(topic)) {
            from.put(q, undecided.maxOffset(q));
        }
        Set<String> keys = ConcurrentHashMap.newKeySet();
        AtomicLong errors = new AtomicLong();
        long start = System.nanoTime();
        run(undecided, topic, threads, Long.MAX_VALUE, count, body, errors, keys);
        double sendSeconds = (System.nanoTime() - start) / 1e9;
        long sent = keys.size();
        undecided.shutdown();

        // A reader of the topic from where it stood: counts each sent message once (the Java
        // broker may commit a message twice when a check answer races the next check).
        DefaultLitePullConsumer reader = new DefaultLitePullConsumer("rocketry_bench_java_tx_reader");
        reader.setNamesrvAddr(namesrv);
        reader.setInstanceName("reader-" + ProcessHandle.current().pid());
        reader.setAutoCommit(false);
        reader.setPullBatchSize(32);
        reader.start();
        reader.assign(from.keySet());
        for (Map.Entry<MessageQueue, Long> e : from.entrySet()) {
            reader.seek(e.getKey(), e.getValue());
        }
        Set<String> seen = new HashSet<>();
        long stored = 0;
        for (MessageExt m : reader.poll(200)) { // nothing should be there yet: none is decided
            stored++;
            if (keys.contains(m.getProperty("UNIQ_KEY"))) {
                seen.add(m.getProperty("UNIQ_KEY"));
            }
        }
        long decidedBeforeChecks = seen.size();

        // The deciding producer: the broker's check-backs reach it once its heartbeat names the
        // group, which needs a broker address, which needs a route: one committed send, then an
        // explicit heartbeat (the periodic one comes every 30 s).
        long t0 = System.nanoTime();
        TransactionMQProducer decider = producer(namesrv, "decider", LocalTransactionState.COMMIT_MESSAGE,
            Executors.newFixedThreadPool(4));
        decider.sendMessageInTransaction(new Message(topic, body), null);
        decider.getDefaultMQProducerImpl().getMqClientFactory().sendHeartbeatToAllBrokerWithLock();
        long firstAt = 0;
        long end = System.currentTimeMillis() + timeout * 1000;
        while (seen.size() < sent && System.currentTimeMillis() < end) {
            for (MessageExt m : reader.poll(100)) {
                stored++;
                if (keys.contains(m.getProperty("UNIQ_KEY")) && seen.add(m.getProperty("UNIQ_KEY")) && firstAt == 0) {
                    firstAt = System.nanoTime();
                }
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        double firstSeconds = firstAt == 0 ? seconds : (firstAt - t0) / 1e9;
        long committed = seen.size();
        reader.shutdown();
        decider.shutdown();
        System.out.printf("{\"sent\":%d,\"send_errors\":%d,\"send_seconds\":%.3f,\"send_msgs_per_sec\":%.1f,"
                + "\"decided_before_checks\":%d,\"committed\":%d,\"stored_in_topic\":%d,\"seconds\":%.3f,"
                + "\"first_commit_seconds\":%.3f,\"msgs_per_sec\":%.1f,\"complete\":%b}%n",
            sent, errors.get(), sendSeconds, sent / sendSeconds, decidedBeforeChecks, committed, stored, seconds,
            firstSeconds, committed / seconds, committed == sent);
    }

    private static long pct(long[] sorted, double q) {
        if (sorted.length == 0) {
            return 0;
        }
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
    }
}
