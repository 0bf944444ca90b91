package rocketry.compat;

import java.util.ArrayDeque;
import java.util.Deque;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.LifecycleMethodExecutionExceptionHandler;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * Per-class JUnit extension: owns one {@link Rocketry} environment and the clients a test class
 * starts. After all tests it shuts the clients down, then kills every rocketry process it started
 * (also when a test or a lifecycle method failed). On any failure it prints the tail of each
 * process's output; the work dir is kept then, and deleted when everything passed.
 *
 * <p>Use as {@code @RegisterExtension static final Harness H = new Harness("name");}
 */
final class Harness implements BeforeAllCallback, AfterAllCallback, TestWatcher, LifecycleMethodExecutionExceptionHandler {
    private final String name;
    private Rocketry env;
    private final Deque<AutoCloseable> clients = new ArrayDeque<>();
    private volatile boolean failed;

    Harness(String name) {
        this.name = name;
    }

    Rocketry env() {
        if (env == null) {
            throw new IllegalStateException("Harness not started");
        }
        return env;
    }

    /** Registers something to close after the class's tests (most recent first). Returns it. */
    synchronized <T extends AutoCloseable> T track(T c) {
        clients.push(c);
        return c;
    }

    @Override
    public void beforeAll(ExtensionContext ctx) {
        env = new Rocketry(name);
        System.out.println("[compat] " + ctx.getDisplayName() + ": binary " + env.binary + ", work dir " + env.dir);
    }

    @Override
    public void afterAll(ExtensionContext ctx) {
        synchronized (this) {
            while (!clients.isEmpty()) {
                try {
                    clients.pop().close();
                } catch (Exception e) {
                    System.err.println("[compat] closing a client failed: " + e);
                }
            }
        }
        if (env != null) {
            env.close();
            if (failed) {
                System.err.println("[compat] " + ctx.getDisplayName() + " failed; kept work dir " + env.dir);
            } else {
                env.deleteDir();
            }
        }
    }

    private void report(String what, Throwable t) {
        failed = true;
        System.err.println("\n[compat] FAILED " + what + ": " + t);
        if (env != null) {
            System.err.println(env.tails(40));
        }
        System.err.println("[compat] client/tools logs: " + System.getProperty("user.home") + "/logs/rocketmqlogs and "
            + System.getProperty("rocketmq.client.logRoot", "(default)"));
    }

    @Override
    public void testFailed(ExtensionContext ctx, Throwable cause) {
        report(ctx.getRequiredTestClass().getSimpleName() + "." + ctx.getDisplayName(), cause);
    }

    @Override
    public void testAborted(ExtensionContext ctx, Throwable cause) {
        report(ctx.getRequiredTestClass().getSimpleName() + "." + ctx.getDisplayName() + " (aborted)", cause);
    }

    @Override
    public void handleBeforeAllMethodExecutionException(ExtensionContext ctx, Throwable t) throws Throwable {
        report(ctx.getDisplayName() + " @BeforeAll", t);
        throw t;
    }

    @Override
    public void handleBeforeEachMethodExecutionException(ExtensionContext ctx, Throwable t) throws Throwable {
        report(ctx.getDisplayName() + " @BeforeEach", t);
        throw t;
    }

    @Override
    public void handleAfterEachMethodExecutionException(ExtensionContext ctx, Throwable t) throws Throwable {
        report(ctx.getDisplayName() + " @AfterEach", t);
        throw t;
    }

    @Override
    public void handleAfterAllMethodExecutionException(ExtensionContext ctx, Throwable t) throws Throwable {
        report(ctx.getDisplayName() + " @AfterAll", t);
        throw t;
    }
}
