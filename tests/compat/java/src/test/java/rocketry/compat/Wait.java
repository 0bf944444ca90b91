package rocketry.compat;

import java.util.concurrent.Callable;
import java.util.function.Predicate;

/** Polling for eventually-consistent state (routes after registration, index after a send). */
final class Wait {
    private Wait() {
    }

    /**
     * Calls f every 200 ms until ok accepts its result, and returns that result. Fails with the last
     * result or exception after timeoutMillis.
     */
    static <T> T until(String what, long timeoutMillis, Callable<T> f, Predicate<T> ok) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        T last = null;
        Exception lastError = null;
        while (true) {
            try {
                last = f.call();
                lastError = null;
                if (ok.test(last)) {
                    return last;
                }
            } catch (Exception e) {
                lastError = e;
            }
            if (System.currentTimeMillis() > deadline) {
                AssertionError e = new AssertionError("timed out after " + timeoutMillis + " ms waiting for " + what
                    + (lastError != null ? "; last error: " + lastError : "; last value: " + last));
                if (lastError != null) {
                    e.initCause(lastError);
                }
                throw e;
            }
            Thread.sleep(200);
        }
    }
}
