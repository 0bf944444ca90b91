package rocketry.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.logging.Level;
import java.util.stream.Collectors;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The dashboard in a real headless Chromium (Debian's, through its ChromeDriver;
 * scripts/install-chromium.sh installs both): every page loads with no console error and is
 * screenshotted (target/dashboard-screenshots); a topic created in the page appears in
 * `rocketry admin topicList`; a message the Java client sent is found by its key in the page,
 * with its body.
 */
class DashboardTest {
    @RegisterExtension
    static final Harness H = new Harness("dashboard");

    static String namesrv;
    static String brokerAddr;
    static String base;
    static DefaultMQAdminExt admin;
    static WebDriver browser;
    static Path shots;

    @BeforeAll
    static void start() throws Exception {
        int port = Rocketry.freePorts(1)[0];
        Clients.Addrs a = Clients.standalone(H, "dashboardPort=" + port);
        namesrv = a.namesrv();
        brokerAddr = a.brokerAddr();
        base = "http://" + Rocketry.LOOPBACK + ":" + port + "/";
        admin = Clients.admin(H, namesrv);
        shots = Path.of("target", "dashboard-screenshots");
        Files.createDirectories(shots);
        ChromeOptions options = new ChromeOptions();
        options.setBinary("/usr/bin/chromium");
        // This machine's network is closed: Chromium's own background connections are off.
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
            "--window-size=1400,1000", "--user-data-dir=" + Files.createTempDirectory("rocketry-chromium"));
        LoggingPreferences logs = new LoggingPreferences();
        logs.enable(LogType.BROWSER, Level.ALL);
        options.setCapability("goog:loggingPrefs", logs);
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(new File("/usr/bin/chromedriver")).build();
        browser = new ChromeDriver(service, options);
    }

    @AfterAll
    static void stop() {
        if (browser != null) {
            browser.quit();
        }
    }

    static WebDriverWait waiting() {
        return new WebDriverWait(browser, Duration.ofSeconds(20));
    }

    /** Console messages at error level since the last call. */
    static List<String> consoleErrors() {
        return browser.manage().logs().get(LogType.BROWSER).getAll().stream()
            .filter(e -> e.getLevel().intValue() >= Level.SEVERE.intValue())
            .map(LogEntry::getMessage)
            .collect(Collectors.toList());
    }

    static void screenshot(String name) throws Exception {
        byte[] png = ((TakesScreenshot) browser).getScreenshotAs(OutputType.BYTES);
        Files.write(shots.resolve(name + ".png"), png);
    }

    /** Opens a page and waits until it has drawn `ready` (and no error box). */
    static void open(String hash, By ready) throws Exception {
        browser.get(base + "#/" + hash);
        waiting().until(ExpectedConditions.presenceOfElementLocated(ready));
        List<WebElement> errors = browser.findElements(By.cssSelector("[role=alert]"));
        assertTrue(errors.isEmpty(), hash + ": " + errors.stream().map(WebElement::getText).collect(Collectors.joining("; ")));
    }

    @Test
    void everyPageLoadsWithoutConsoleErrors() throws Exception {
        open("cluster", By.cssSelector(".chart svg"));
        assertTrue(browser.findElement(By.id("page")).getText().contains("broker-a"));
        screenshot("cluster");
        open("topics", By.cssSelector("#create-topic"));
        waiting().until(ExpectedConditions.textToBePresentInElementLocated(By.id("page"), "TBW102"));
        screenshot("topics");
        open("groups", By.cssSelector("#page table"));
        screenshot("groups");
        open("messages", By.cssSelector("#by-key"));
        screenshot("messages");
        open("dlq", By.cssSelector("#dlq"));
        screenshot("dlq");
        assertEquals(List.of(), consoleErrors());
    }

    @Test
    void aTopicCreatedInThePageIsListedByTheAdminCli() throws Exception {
        String topic = Clients.unique("WebTopic");
        open("topics", By.cssSelector("#create-topic"));
        browser.findElement(By.cssSelector("#create-topic input[name=topic]")).sendKeys(topic);
        WebElement queues = browser.findElement(By.cssSelector("#create-topic input[name=queues]"));
        queues.clear();
        queues.sendKeys("4");
        browser.findElement(By.cssSelector("#create-topic button[type=submit]")).click();
        waiting().until(ExpectedConditions.textToBePresentInElementLocated(By.cssSelector("[role=status]"), "Topic " + topic + " created."));
        screenshot("topic-created");
        String listed = Clients.rocketryAdminJson(namesrv, "topicList");
        assertTrue(com.alibaba.fastjson2.JSON.parseArray(listed).contains(topic), listed);
        assertEquals(4, admin.examineTopicRouteInfo(topic).getQueueDatas().get(0).getWriteQueueNums());
        assertEquals(List.of(), consoleErrors());
    }

    @Test
    void aMessageSentByTheJavaClientIsFoundByKey() throws Exception {
        String topic = Clients.unique("DashMsgs");
        String key = Clients.unique("dash-key");
        admin.createAndUpdateTopicConfig(brokerAddr, new TopicConfig(topic, 2, 2, 6));
        Clients.awaitRoute(admin, topic);
        DefaultMQProducer p = Clients.producer(H, namesrv);
        SendResult sent = null;
        for (int i = 0; i < 5; i++) {
            Message m = new Message(topic, "TagD", i == 3 ? key : "other-" + i, ("dashboard body " + i).getBytes(StandardCharsets.UTF_8));
            SendResult r = p.send(m);
            if (i == 3) {
                sent = r;
            }
        }
        open("messages", By.cssSelector("#by-key"));
        browser.findElement(By.cssSelector("#by-key input[name=topic]")).sendKeys(topic);
        browser.findElement(By.cssSelector("#by-key input[name=key]")).sendKeys(key);
        browser.findElement(By.cssSelector("#by-key button[type=submit]")).click();
        String msgId = sent.getMsgId();
        waiting().until(ExpectedConditions.textToBePresentInElementLocated(By.id("page"), msgId));
        List<WebElement> rows = browser.findElements(By.cssSelector("#page tr.clickable"));
        assertEquals(1, rows.size(), "only the message with that key");
        rows.get(0).click();
        waiting().until(ExpectedConditions.textToBePresentInElementLocated(By.id("page"), "dashboard body 3"));
        screenshot("message-found");
        assertEquals(List.of(), consoleErrors());
    }
}
