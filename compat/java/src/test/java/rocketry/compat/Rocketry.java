package rocketry.compat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Starts and stops rocketry processes on free loopback ports with their own data dirs. */
final class Rocketry implements AutoCloseable {
    final List<String> args;
    final Path dir;
    final List<Integer> ports;
    private Process process;

    private Rocketry(List<String> args, Path dir, List<Integer> ports) {
        this.args = args;
        this.dir = dir;
        this.ports = ports;
    }

    static String bin() {
        String bin = System.getProperty("rocketryBin");
        if (bin == null || bin.isEmpty() || bin.startsWith("${")) {
            bin = System.getenv("ROCKETRY_BIN");
        }
        if (bin == null || bin.isEmpty()) {
            throw new IllegalStateException("set -DrocketryBin=/path/to/rocketry or ROCKETRY_BIN");
        }
        return bin;
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** NameServer and Broker in one process. */
    static Rocketry standalone(Path dir) throws Exception {
        int ns = freePort(), br = freePort();
        List<String> a = List.of(bin(), "standalone", "--data-dir", dir.resolve("data").toString(),
            "--namesrv-port", String.valueOf(ns), "--broker-port", String.valueOf(br));
        Rocketry r = new Rocketry(a, dir, List.of(ns, br));
        r.start();
        return r;
    }

    static Rocketry namesrv(Path dir) throws Exception {
        int ns = freePort();
        Rocketry r = new Rocketry(List.of(bin(), "namesrv", "--port", String.valueOf(ns)), dir, List.of(ns));
        r.start();
        return r;
    }

    static Rocketry broker(Path dir, String name, String namesrv) throws Exception {
        int port = freePort();
        Files.createDirectories(dir);
        Path conf = dir.resolve("broker.conf");
        Files.writeString(conf, String.join("\n",
            "brokerClusterName=DefaultCluster",
            "brokerName=" + name,
            "brokerId=0",
            "listenPort=" + port,
            "namesrvAddr=" + namesrv,
            "storePathRootDir=" + dir.resolve("store"),
            "brokerIP1=127.0.0.1",
            "autoCreateTopicEnable=true",
            "mappedFileSizeCommitLog=67108864", ""), StandardCharsets.UTF_8);
        Rocketry r = new Rocketry(List.of(bin(), "broker", "-c", conf.toString()), dir, List.of(port));
        r.start();
        return r;
    }

    String namesrvAddr() {
        return "127.0.0.1:" + ports.get(0);
    }

    String brokerAddr() {
        return "127.0.0.1:" + ports.get(ports.size() - 1);
    }

    void start() throws Exception {
        Files.createDirectories(dir);
        ProcessBuilder pb = new ProcessBuilder(args);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("stdout.log").toFile()));
        pb.redirectError(ProcessBuilder.Redirect.appendTo(dir.resolve("stderr.log").toFile()));
        process = pb.start();
        long deadline = System.currentTimeMillis() + 30_000;
        for (int port : ports) {
            while (!accepts(port)) {
                if (!process.isAlive()) {
                    throw new IllegalStateException("rocketry exited with " + process.exitValue() + ":\n" + logTail());
                }
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("rocketry did not listen on " + port + ":\n" + logTail());
                }
                Thread.sleep(50);
            }
        }
    }

    private static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** SIGTERM and wait: a clean shutdown. */
    void stop() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroy();
            if (!process.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
                throw new IllegalStateException("rocketry did not stop on SIGTERM:\n" + logTail());
            }
        }
    }

    /** SIGKILL: a crash. */
    void kill() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly().waitFor();
        }
    }

    String logTail() {
        StringBuilder sb = new StringBuilder();
        for (String f : List.of("stdout.log", "stderr.log")) {
            try {
                List<String> lines = Files.readAllLines(dir.resolve(f), StandardCharsets.UTF_8);
                sb.append("--- ").append(f).append('\n');
                for (String l : lines.subList(Math.max(0, lines.size() - 40), lines.size())) {
                    sb.append(l).append('\n');
                }
            } catch (IOException ignored) {
                // no log yet
            }
        }
        return sb.toString();
    }

    @Override
    public void close() throws Exception {
        kill();
    }
}
