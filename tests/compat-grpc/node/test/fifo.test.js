'use strict';
// FIFO topic + orderly group: message groups, order kept per group; the route's accepted
// message types keep NORMAL messages off a FIFO topic.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Broker, Ctx, explained, unique, within } = require('./harness');

const ctx = new Ctx();
let topic;
let producer;
test.before(async () => {
  ctx.broker = await Broker.start();
  topic = unique('NodeFifo');
  await ctx.broker.createTopic(topic, { fifo: true });
});
test.after(async () => { await ctx.close(); });

const GROUPS = [ 'order-a', 'order-b', 'order-c' ];
const PER_GROUP = 6;

test('FIFO: messages of each message group are received in send order', { timeout: 60000 }, () => explained(ctx, async () => {
  const broker = ctx.broker;
  const group = unique('NodeFifoGroup');
  await broker.createGroup(group, { orderly: true });

  const consumer = await ctx.simpleConsumer(group, topic, '*', 'simple-consumer');
  const before = await within(15000, 'first (empty) receive', consumer.receive(32, 15000));
  assert.equal(before.length, 0);

  producer = await ctx.producer(topic, 'producer');

  const idOf = new Map(); // messageId -> `${group}#${seq}`
  for (let seq = 0; seq < PER_GROUP; seq++) {
    for (const g of GROUPS) {
      const r = await within(10000, `send ${g}#${seq}`, producer.send({
        topic, tag: 'fifo', messageGroup: g, keys: [ `${g}-${seq}` ], body: Buffer.from(`${g}#${seq}`),
      }));
      idOf.set(r.messageId, `${g}#${seq}`);
    }
  }

  // Receive and ack batch by batch; an orderly group hands out a queue's next messages only
  // after the previous ones are acked.
  const order = new Map(GROUPS.map(g => [ g, [] ]));
  const seen = [];
  const check = m => {
    seen.push(`${m.body}(attempt ${m.deliveryAttempt})`);
    assert.ok(idOf.has(m.messageId), `an id a send receipt gave: ${m.messageId} body=${m.body}`);
    assert.equal(m.body.toString(), idOf.get(m.messageId));
    assert.ok(GROUPS.includes(m.messageGroup), `message group is delivered: got ${JSON.stringify(m.messageGroup)} for ${m.body}`);
    assert.equal(m.body.toString().split('#')[0], m.messageGroup, 'the message group it was sent with');
    order.get(m.messageGroup).push(Number(m.body.toString().split('#')[1]));
  };

  // While a batch is not acked, no later message of its message groups may be handed out.
  const first = await within(15000, 'receive', consumer.receive(2, 15000));
  assert.ok(first.length > 0, 'the first receive after sending gets messages');
  first.forEach(check);
  const held = new Set(first.map(m => m.messageGroup));
  const second = await within(15000, 'receive while the first batch is not acked', consumer.receive(4, 15000));
  for (const m of second) {
    assert.ok(!held.has(m.messageGroup), `${m.body} handed out while earlier messages of ${m.messageGroup} were not acked (first batch: ${first.map(x => String(x.body))})`);
  }
  second.forEach(check);
  for (const m of first.concat(second)) await within(10000, `ack ${m.body}`, consumer.ack(m));

  const deadline = Date.now() + 30000;
  while (seen.length < idOf.size && Date.now() < deadline) {
    const batch = await within(15000, 'receive', consumer.receive(4, 15000));
    batch.forEach(check);
    for (const m of batch) await within(10000, `ack ${m.body}`, consumer.ack(m));
  }
  process.stderr.write(`fifo: first batch ${first.length}, second ${second.length}, in all ${seen.length}\n`);
  const expected = [ ...Array(PER_GROUP).keys() ];
  for (const g of GROUPS) {
    assert.deepEqual(order.get(g), expected, `group ${g} in send order; all received: ${seen.join(', ')}`);
  }
  const after = await within(15000, 'receive after ack', consumer.receive(32, 15000));
  assert.deepEqual(after.map(m => String(m.body)), [], 'nothing left after acking all');
}));

test('FIFO topic: the route accepts FIFO only, so a NORMAL message is refused', { timeout: 30000 }, () => explained(ctx, async () => {
  assert.ok(producer, 'the producer of the previous test started');
  await assert.rejects(
    within(10000, 'send a NORMAL message to a FIFO topic', producer.send({ topic, body: Buffer.from('no group') })),
    err => {
      assert.match(err.message, /message type|40014|MESSAGE_TYPE/i, `refused for its type: ${err.message}`);
      return true;
    },
  );
}));
