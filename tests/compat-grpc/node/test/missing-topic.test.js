'use strict';
// A topic that does not exist: the producer fails to start (TOPIC_NOT_FOUND), a send to it
// fails, and the broker does not create it on the way.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Producer } = require('rocketmq-client-nodejs');
const { Broker, Ctx, explained, unique, within, codes, messages } = require('./harness');

const TOPIC_NOT_FOUND = 40402;

const ctx = new Ctx();
test.before(async () => { ctx.broker = await Broker.start(); });
test.after(async () => { await ctx.close(); });

test('a producer on a missing topic fails to start with TOPIC_NOT_FOUND', { timeout: 40000 }, () => explained(ctx, async () => {
  const topic = unique('NodeMissing');
  const producer = ctx.track(new Producer({ endpoints: ctx.broker.endpoint, namespace: '', topic, logger: ctx.log('producer') }));
  // The SDK tries the route three times (1 s and 2 s apart) before it gives up.
  await assert.rejects(within(20000, 'startup on a missing topic', producer.startup()), err => {
    assert.ok(codes(err).includes(TOPIC_NOT_FOUND), `TOPIC_NOT_FOUND (40402) in the error chain: codes ${codes(err)}; ${messages(err)}`);
    return true;
  });
}));

test('a send to a missing topic fails and does not create it', { timeout: 40000 }, () => explained(ctx, async () => {
  const existing = unique('NodeExisting');
  await ctx.broker.createTopic(existing);
  const producer = await ctx.producer(existing, 'producer2');

  const missing = unique('NodeMissingSend');
  for (let i = 0; i < 2; i++) {
    await assert.rejects(within(10000, `send #${i} to a missing topic`, producer.send({ topic: missing, body: Buffer.from('x') })), err => {
      assert.ok(codes(err).includes(TOPIC_NOT_FOUND), `TOPIC_NOT_FOUND (40402): codes ${codes(err)}; ${messages(err)}`);
      return true;
    });
  }
  // The existing topic still works for the same producer.
  const r = await within(10000, 'send to the existing topic', producer.send({ topic: existing, body: Buffer.from('ok') }));
  assert.ok(r.messageId);
}));
