package rocketry.compat;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.rocketmq.common.message.MessageExt;

/** Thread-safe record of delivered messages, by their {@value Msgs#SEQ} property (duplicates kept). */
final class Received {
    private final Map<String, List<MessageExt>> bySeq = new TreeMap<>();
    private final List<MessageExt> unnamed = new ArrayList<>();
    private int total;

    synchronized void add(MessageExt m) {
        total++;
        String seq = m.getUserProperty(Msgs.SEQ);
        if (seq == null) {
            unnamed.add(m);
        } else {
            bySeq.computeIfAbsent(seq, k -> new ArrayList<>()).add(m);
        }
        notifyAll();
    }

    synchronized void addAll(Collection<MessageExt> ms) {
        ms.forEach(this::add);
    }

    synchronized int total() {
        return total;
    }

    synchronized Map<String, List<MessageExt>> snapshot() {
        Map<String, List<MessageExt>> m = new TreeMap<>();
        bySeq.forEach((k, v) -> m.put(k, List.copyOf(v)));
        return m;
    }

    synchronized List<MessageExt> unnamed() {
        return List.copyOf(unnamed);
    }

    /** Waits until every seq in want has arrived at least once; returns whether it did in time. */
    synchronized boolean awaitAll(Collection<String> want, long timeoutMillis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (!bySeq.keySet().containsAll(want)) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return false;
            }
            wait(left);
        }
        return true;
    }
}
