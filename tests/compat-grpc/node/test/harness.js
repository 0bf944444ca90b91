'use strict';
// Test harness: starts a Rocketry broker (standalone: namesrv + broker + gRPC port) from
// $ROCKETRY_BIN on loopback, creates topics and groups with `rocketry admin`, and hands the
// SDK a logger that keeps what the SDK said so a failing test can show it.

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const util = require('node:util');

const execFileP = util.promisify(execFile);

const STARTUP_TIMEOUT_MS = 20000;
const TAIL_LINES = 60;

// A file's tests must never hang the suite: if anything keeps the process alive this long
// after the file started, it ends with a failure.
const WATCHDOG_MS = Number(process.env.COMPAT_WATCHDOG_MS || 150000);
const watchdog = setTimeout(() => {
  process.stderr.write(`compat-grpc-node: watchdog fired after ${WATCHDOG_MS} ms; exiting\n`);
  for (const b of Broker.running) b.kill();
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

// Whatever ends this process (the runner's --test-force-exit, a signal) ends its brokers too.
process.on('exit', () => {
  for (const b of Broker.running) b.kill();
});
for (const sig of [ 'SIGINT', 'SIGTERM' ]) {
  process.once(sig, () => {
    for (const b of Broker.running) b.kill();
    process.exit(1);
  });
}

function rocketryBin() {
  const bin = process.env.ROCKETRY_BIN;
  if (!bin) {
    throw new Error('ROCKETRY_BIN is not set: point it at the rocketry binary (run.sh <path-to-rocketry> does)');
  }
  if (!fs.existsSync(bin)) {
    throw new Error(`ROCKETRY_BIN=${bin} does not exist`);
  }
  return bin;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function distinctFreePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [ ...ports ];
}

function canConnect(port) {
  return new Promise(resolve => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => { sock.destroy(); resolve(false); });
  });
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

/** Keeps the last lines of a stream. */
class Tail {
  constructor(max = 400) { this.max = max; this.lines = []; this.partial = ''; }
  push(chunk) {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop();
    for (const l of parts) {
      this.lines.push(l);
      if (this.lines.length > this.max) this.lines.shift();
    }
  }
  text() { return this.lines.concat(this.partial ? [ this.partial ] : []).join('\n'); }
  last(n) { return this.lines.concat(this.partial ? [ this.partial ] : []).slice(-n).join('\n'); }
}

class Broker {
  static running = new Set();

  /** `conf`: more broker.conf lines (e.g. grpcTlsCertPath=...). */
  static async start({ conf = [] } = {}) {
    const b = new Broker();
    await b.#start(conf);
    return b;
  }

  async #start(extraConf) {
    this.bin = rocketryBin();
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketry-node-compat-'));
    const conf = path.join(this.dir, 'broker.conf');
    fs.writeFileSync(conf, [ 'diskCapacityBytes=1099511627776', ...extraConf ].join('\n') + '\n');
    [ this.nsPort, this.brokerPort, this.grpcPort ] = await distinctFreePorts(3);
    this.stdout = new Tail();
    this.stderr = new Tail(2000);
    const args = [
      'standalone',
      '--data-dir', path.join(this.dir, 'data'),
      '--namesrv-port', String(this.nsPort),
      '--broker-port', String(this.brokerPort),
      '--grpc-port', String(this.grpcPort),
      '-c', conf,
    ];
    const env = { ...process.env, RUST_LOG: process.env.ROCKETRY_LOG || process.env.RUST_LOG || 'info' };
    this.proc = spawn(this.bin, args, { env, stdio: [ 'ignore', 'pipe', 'pipe' ] });
    Broker.running.add(this);
    this.exited = null;
    this.proc.stdout.on('data', d => this.stdout.push(d));
    this.proc.stderr.on('data', d => this.stderr.push(d));
    this.proc.on('exit', (code, signal) => { this.exited = { code, signal }; });
    const logFile = process.env.COMPAT_BROKER_LOG_DIR;
    if (logFile) {
      fs.mkdirSync(logFile, { recursive: true });
      const out = fs.createWriteStream(path.join(logFile, `broker-${this.grpcPort}.log`));
      this.proc.stdout.pipe(out);
      this.proc.stderr.pipe(out);
    }

    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (;;) {
      if (this.exited) {
        throw new Error(`rocketry exited during startup (${JSON.stringify(this.exited)})\n${this.diagnostics()}`);
      }
      if (this.stdout.text().includes('gRPC (RocketMQ 5.x) listening') && await canConnect(this.grpcPort)) break;
      if (Date.now() > deadline) {
        this.kill();
        throw new Error(`rocketry did not start serving gRPC on 127.0.0.1:${this.grpcPort} within ${STARTUP_TIMEOUT_MS} ms\n${this.diagnostics()}`);
      }
      await sleep(100);
    }
    this.endpoint = `127.0.0.1:${this.grpcPort}`;
    this.namesrv = `127.0.0.1:${this.nsPort}`;
  }

  async admin(...args) {
    try {
      const { stdout } = await execFileP(this.bin, [ 'admin', ...args ], { timeout: 20000 });
      return stdout;
    } catch (e) {
      throw new Error(`rocketry admin ${args.join(' ')} failed: ${e.message}\nstdout: ${e.stdout}\nstderr: ${e.stderr}`);
    }
  }

  async createTopic(topic, { fifo = false } = {}) {
    const args = [ 'updateTopic', '-n', this.namesrv, '-c', 'DefaultCluster', '-t', topic, '-r', '4', '-w', '4' ];
    if (fifo) args.push('-a', '+message.type=FIFO');
    await this.admin(...args);
  }

  async createGroup(group, { orderly = false } = {}) {
    const args = [ 'updateSubGroup', '-n', this.namesrv, '-c', 'DefaultCluster', '-g', group ];
    if (orderly) args.push('-o', 'true');
    await this.admin(...args);
  }

  diagnostics(n = TAIL_LINES) {
    return `--- rocketry stdout (last lines) ---\n${this.stdout.last(n)}\n--- rocketry stderr (last lines) ---\n${this.stderr.last(n)}`;
  }

  kill() {
    if (this.proc && !this.exited) this.proc.kill('SIGKILL');
    Broker.running.delete(this);
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async stop() {
    if (this.proc && !this.exited) {
      const gone = new Promise(resolve => this.proc.once('exit', resolve));
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    }
    Broker.running.delete(this);
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** An ILogger for the SDK that keeps its lines (and echoes them with COMPAT_SDK_LOG=1). */
class SdkLog {
  constructor(name) { this.name = name; this.tail = new Tail(1000); }
  #write(level, args) {
    const line = `${new Date().toISOString()} ${level} [${this.name}] ${util.format(...args.map(a => (a instanceof Error ? a.stack || a.message : a)))}`;
    this.tail.push(line + '\n');
    if (process.env.COMPAT_SDK_LOG) process.stderr.write(line + '\n');
  }
  info(...a) { this.#write('INFO', a); }
  warn(...a) { this.#write('WARN', a); }
  error(...a) { this.#write('ERROR', a); }
  debug(...a) { this.#write('DEBUG', a); }
  close() {}
  last(n) { return this.tail.last(n); }
}

/** Rejects with `what` if `promise` has not settled within `ms`. */
function within(ms, what, promise) {
  let t;
  const timer = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([ promise, timer ]).finally(() => clearTimeout(t));
}

/**
 * Runs a test body; on failure, adds the broker's output and the SDK logs to the error so
 * that what the broker answered is in the report.
 */
async function explained(ctx, fn) {
  try {
    await fn();
  } catch (e) {
    const parts = [ e && e.stack ? e.stack : String(e) ];
    for (const log of ctx.logs) parts.push(`--- SDK log ${log.name} (last lines) ---\n${log.last(TAIL_LINES)}`);
    if (ctx.broker) parts.push(ctx.broker.diagnostics());
    const err = new Error(parts.join('\n'));
    err.cause = e;
    throw err;
  }
}

/** A broker and the SDK clients of one test file; `close` shuts all down. */
class Ctx {
  constructor() { this.logs = []; this.clients = []; this.broker = null; }
  log(name) { const l = new SdkLog(name); this.logs.push(l); return l; }
  track(client) { this.clients.push(client); return client; }
  async shutdown(client, ms = 8000) {
    const i = this.clients.indexOf(client);
    if (i >= 0) this.clients.splice(i, 1);
    try {
      await within(ms, 'client shutdown', client.shutdown());
    } catch (e) {
      process.stderr.write(`compat-grpc-node: shutdown of a client: ${e.message}\n`);
    }
  }
  async close() {
    for (const c of this.clients.splice(0).reverse()) await this.shutdown(c);
    if (this.broker) await this.broker.stop();
  }

  /** A started Producer of `topic` on this file's broker, tracked; `opts` adds SDK options. */
  async producer(topic, name, opts = {}) {
    const { Producer } = require('rocketmq-client-nodejs');
    const p = this.track(new Producer({ endpoints: this.broker.endpoint, namespace: '', topic, logger: this.log(name), ...opts }));
    return started(p, `Producer (${name})`);
  }

  /** A started SimpleConsumer of `group` on `topic` with tag filter `tag`, tracked. */
  async simpleConsumer(group, topic, tag, name, opts = {}) {
    const { SimpleConsumer } = require('rocketmq-client-nodejs');
    const c = this.track(new SimpleConsumer({
      endpoints: this.broker.endpoint, namespace: '', consumerGroup: group,
      subscriptions: new Map([ [ topic, tag ] ]), awaitDuration: 5000, logger: this.log(name), ...opts,
    }));
    return started(c, `SimpleConsumer (${name})`);
  }

  /**
   * A new POP group starts at the end of each queue: one (empty) receive of the group sets
   * its offsets before anything is sent. The consumer is shut down after.
   */
  async prime(group, topic, name, opts = {}) {
    const primer = await this.simpleConsumer(group, topic, '*', name, opts);
    const got = await within(15000, `${name} receive`, primer.receive(32, 15000));
    if (got.length !== 0) throw new Error(`${name}: a new group on a new topic received ${got.length} messages`);
    await this.shutdown(primer);
  }
}

let seq = 0;
function unique(prefix) {
  seq += 1;
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${seq}`;
}

/** Awaits `client.startup()`, bounded: the SDK waits forever for the settings reply. */
async function started(client, what, ms = 15000) {
  await within(ms, `${what} startup (did the broker answer the Telemetry settings?)`, client.startup());
  return client;
}

/**
 * Receives with a SimpleConsumer until `want` messages came or `ms` passed; each receive is
 * bounded (await duration + request timeout + slack) so a broker that never answers fails.
 */
async function receiveUntil(consumer, want, ms, { invisibleMs = 15000, onBatch } = {}) {
  const got = [];
  const deadline = Date.now() + ms;
  while (got.length < want && Date.now() < deadline) {
    const batch = await within(15000, 'SimpleConsumer.receive', consumer.receive(32, invisibleMs));
    if (onBatch) await onBatch(batch);
    got.push(...batch);
  }
  return got;
}

/** The codes of an error and its causes. */
function codes(err) {
  const out = [];
  for (let e = err; e; e = e.cause) if (e.code !== undefined) out.push(e.code);
  return out;
}

function messages(err) {
  const out = [];
  for (let e = err; e; e = e.cause) out.push(e.message);
  return out.join(' <- ');
}

module.exports = { Broker, Ctx, SdkLog, within, explained, sleep, unique, started, receiveUntil, codes, messages };
