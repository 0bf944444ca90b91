package rocketry.compat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Launches and stops rocketry processes for one test class.
 *
 * <p>Every process gets free loopback ports, a fresh data directory under this environment's temp
 * directory, and its stdout/stderr appended to files there (tails are printed when a test fails).
 * {@link #close()} kills whatever is still running; a JVM shutdown hook does the same if the test
 * JVM is stopped early.
 */
final class Rocketry implements AutoCloseable {
    static final String LOOPBACK = "127.0.0.1";
    static final long START_TIMEOUT_MS = 30_000;
    static final long STOP_TIMEOUT_MS = 20_000;

    /** Every process started by any environment in this JVM, for the shutdown hook. */
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            for (Process p : LIVE) {
                p.destroyForcibly();
            }
        }, "rocketry-compat-kill"));
    }

    final Path binary;
    final Path dir;
    private final List<Proc> procs = Collections.synchronizedList(new ArrayList<>());

    Rocketry(String name) {
        this.binary = binary();
        try {
            String root = System.getProperty("compat.workRoot");
            Path base = root == null || root.isBlank() ? Paths.get(System.getProperty("java.io.tmpdir")) : Paths.get(root);
            Files.createDirectories(base);
            this.dir = Files.createTempDirectory(base, "rocketry-" + name + "-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The binary under test: system property rocketryBin, else env ROCKETRY_BIN. */
    static Path binary() {
        String v = System.getProperty("rocketryBin");
        if (v == null || v.isBlank() || v.startsWith("${")) {
            v = System.getenv("ROCKETRY_BIN");
        }
        if (v == null || v.isBlank()) {
            throw new IllegalStateException("No rocketry binary given: run `mvn -B -q test -DrocketryBin=/abs/path/to/rocketry` "
                + "or set ROCKETRY_BIN");
        }
        Path p = Paths.get(v).toAbsolutePath();
        if (!Files.isRegularFile(p) || !Files.isExecutable(p)) {
            throw new IllegalStateException("rocketry binary " + p + " does not exist or is not executable");
        }
        return p;
    }

    /** Distinct free loopback ports (all held open until every one is chosen). */
    static int[] freePorts(int n) {
        List<ServerSocket> held = new ArrayList<>();
        try {
            int[] ports = new int[n];
            for (int i = 0; i < n; i++) {
                ServerSocket s = new ServerSocket();
                s.setReuseAddress(false);
                s.bind(new InetSocketAddress(InetAddress.getByName(LOOPBACK), 0));
                held.add(s);
                ports[i] = s.getLocalPort();
            }
            return ports;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            for (ServerSocket s : held) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // best effort
                }
            }
        }
    }

    static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(LOOPBACK, port), 300);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Usage is counted against this capacity instead of the host's filesystem, so a nearly full
     * disk on the test machine can neither refuse sends nor trigger forced deletion.
     */
    static final String ISOLATED_DISK = "diskCapacityBytes=1099511627776";

    /** A free gRPC port rather than 8081, which another broker of the run may hold; a conf line may override it. */
    static final String ANY_GRPC_PORT = "grpcServerPort=0";

    /** `rocketry standalone`: NameServer on namesrvPort, Broker (broker-a) on brokerPort. */
    Proc standalone(String name, Path dataDir, int namesrvPort, int brokerPort) {
        return standalone(name, dataDir, namesrvPort, brokerPort, new String[0]);
    }

    /** `rocketry standalone -c <conf>` with extra broker.conf lines. */
    Proc standalone(String name, Path dataDir, int namesrvPort, int brokerPort, String... confLines) {
        Path conf = dir.resolve(name + ".conf");
        try {
            Files.writeString(conf, ISOLATED_DISK + "\n" + ANY_GRPC_PORT + "\n" + String.join("\n", confLines) + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return start(name, List.of("standalone", "--data-dir", dataDir.toString(), "-c", conf.toString(),
            "--namesrv-port", String.valueOf(namesrvPort), "--broker-port", String.valueOf(brokerPort)),
            namesrvPort, brokerPort);
    }

    /** `rocketry controller -c <conf>`: node {@code self} of {@code ports} (one per node), data under {@code storeDir}. */
    Proc controller(String name, int[] ports, int self, Path storeDir, String... extraConf) {
        Path conf = dir.resolve(name + ".conf");
        StringBuilder peers = new StringBuilder();
        for (int i = 0; i < ports.length; i++) {
            peers.append(i == 0 ? "" : ";").append('n').append(i).append('-').append(LOOPBACK).append(':').append(ports[i]);
        }
        String text = String.join("\n", "controllerDLegerSelfId=n" + self, "controllerDLegerPeers=" + peers,
            "controllerStorePath=" + storeDir, String.join("\n", extraConf), "");
        try {
            Files.writeString(conf, text, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return start(name, List.of("controller", "-c", conf.toString()), ports[self]);
    }

    Proc namesrv(String name, int port) {
        return start(name, List.of("namesrv", "--port", String.valueOf(port)), port);
    }

    /** `rocketry broker -c broker.conf` with the properties the brief's cluster uses. */
    Proc broker(String name, String brokerName, int listenPort, int namesrvPort, Path storeDir) {
        return broker(name, brokerName, listenPort, namesrvPort, storeDir, new String[0]);
    }

    /** The same, with extra broker.conf lines. */
    Proc broker(String name, String brokerName, int listenPort, int namesrvPort, Path storeDir, String... extraConf) {
        Path conf = dir.resolve(name + ".conf");
        String text = String.join("\n",
            "brokerClusterName=DefaultCluster",
            "brokerName=" + brokerName,
            "brokerId=0",
            "listenPort=" + listenPort,
            "namesrvAddr=" + LOOPBACK + ":" + namesrvPort,
            "storePathRootDir=" + storeDir,
            "autoCreateTopicEnable=true",
            "brokerIP1=" + LOOPBACK,
            ISOLATED_DISK,
            ANY_GRPC_PORT,
            String.join("\n", extraConf),
            "");
        try {
            Files.writeString(conf, text, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return start(name, List.of("broker", "-c", conf.toString()), listenPort);
    }

    Path newDataDir(String name) {
        try {
            return Files.createDirectories(dir.resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Another program (not the rocketry binary): {@code command} is the whole command line. Used for
     * the Java broker the differential tests compare against.
     */
    Proc command(String name, List<String> command, int... ports) {
        Proc p = new Proc(this, name, command, ports);
        p.raw = true;
        procs.add(p);
        p.start();
        return p;
    }

    private Proc start(String name, List<String> args, int... ports) {
        Proc p = new Proc(this, name, args, ports);
        procs.add(p);
        p.start();
        return p;
    }

    /** Tails of every process's output, for failure reports. */
    String tails(int lines) {
        StringBuilder sb = new StringBuilder();
        sb.append("rocketry work dir: ").append(dir).append('\n');
        synchronized (procs) {
            for (Proc p : procs) {
                sb.append(p.tail(lines));
            }
        }
        return sb.toString();
    }

    @Override
    public void close() {
        synchronized (procs) {
            for (Proc p : procs) {
                p.killQuietly();
            }
        }
    }

    /** Deletes the work dir (called only when every test of the class passed). */
    void deleteDir() {
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort
        }
    }

    /** One rocketry process; can be stopped (SIGTERM), killed (SIGKILL) and started again with the same arguments. */
    static final class Proc {
        final String name;
        final List<String> args;
        final int[] ports;
        final Path stdout;
        final Path stderr;
        private final Rocketry env;
        private volatile Process process;
        private int starts;
        /** {@code args} is the whole command line, not arguments of the rocketry binary. */
        private boolean raw;

        Proc(Rocketry env, String name, List<String> args, int[] ports) {
            this.env = env;
            this.name = name;
            this.args = args;
            this.ports = ports;
            this.stdout = env.dir.resolve(name + ".stdout.log");
            this.stderr = env.dir.resolve(name + ".stderr.log");
        }

        /** Starts the process and waits until all its ports accept TCP connections. */
        synchronized void start() {
            if (process != null && process.isAlive()) {
                throw new IllegalStateException(name + " is already running");
            }
            for (int port : ports) {
                if (accepts(port)) {
                    throw new IllegalStateException(name + ": port " + port + " already accepts connections before start "
                        + "(another process holds it)");
                }
            }
            List<String> cmd = new ArrayList<>();
            if (!raw) {
                cmd.add(env.binary.toString());
            }
            cmd.addAll(args);
            ProcessBuilder pb = new ProcessBuilder(cmd)
                .directory(env.dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(nullDevice()))
                .redirectOutput(ProcessBuilder.Redirect.appendTo(stdout.toFile()))
                .redirectError(ProcessBuilder.Redirect.appendTo(stderr.toFile()));
            starts++;
            try {
                Files.writeString(stdout, "---- start #" + starts + ": " + String.join(" ", cmd) + "\n",
                    StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
                process = pb.start();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot start " + cmd, e);
            }
            LIVE.add(process);
            long deadline = System.currentTimeMillis() + START_TIMEOUT_MS;
            for (int port : ports) {
                while (!accepts(port)) {
                    if (!process.isAlive()) {
                        throw new IllegalStateException(name + " exited with code " + process.exitValue()
                            + " before port " + port + " accepted connections\n" + tail(40));
                    }
                    if (System.currentTimeMillis() > deadline) {
                        throw new IllegalStateException(name + ": port " + port + " did not accept connections within "
                            + START_TIMEOUT_MS / 1000 + " s\n" + tail(40));
                    }
                    sleep(100);
                }
            }
        }

        /** SIGTERM, then waits for the exit; returns the exit code. Fails (after SIGKILL) if it does not exit in time. */
        synchronized int terminate() {
            Process p = process;
            p.destroy(); // SIGTERM on Linux
            try {
                if (!p.waitFor(STOP_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
                    p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                    LIVE.remove(p);
                    throw new AssertionError(name + " did not exit within " + STOP_TIMEOUT_MS / 1000
                        + " s of SIGTERM (killed it)\n" + tail(40));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            LIVE.remove(p);
            return p.exitValue();
        }

        /** SIGKILL (a crash), and waits until the process is gone. */
        synchronized void kill() {
            Process p = process;
            p.destroyForcibly();
            try {
                if (!p.waitFor(10, TimeUnit.SECONDS)) {
                    throw new IllegalStateException(name + " survived SIGKILL for 10 s");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            LIVE.remove(p);
        }

        void killQuietly() {
            Process p = process;
            if (p != null && p.isAlive()) {
                p.destroyForcibly();
                try {
                    p.waitFor(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (p != null) {
                LIVE.remove(p);
            }
        }

        boolean isAlive() {
            Process p = process;
            return p != null && p.isAlive();
        }

        String tail(int lines) {
            return "---- " + name + " (" + String.join(" ", args) + ")"
                + (process == null ? "" : process.isAlive() ? " [running]" : " [exited " + process.exitValue() + "]") + "\n"
                + "-- stdout " + stdout + "\n" + lastLines(stdout, lines)
                + "-- stderr " + stderr + "\n" + lastLines(stderr, lines);
        }

        private static String lastLines(Path f, int n) {
            try {
                if (!Files.exists(f)) {
                    return "(none)\n";
                }
                List<String> all = List.of(new String(Files.readAllBytes(f), StandardCharsets.UTF_8).split("\n"));
                StringBuilder sb = new StringBuilder();
                for (String l : all.subList(Math.max(0, all.size() - n), all.size())) {
                    sb.append("   | ").append(l).append('\n');
                }
                return sb.toString();
            } catch (IOException | UncheckedIOException e) {
                return "(unreadable: " + e + ")\n";
            }
        }

        private static java.io.File nullDevice() {
            return new java.io.File("/dev/null");
        }
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
