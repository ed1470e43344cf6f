// SPDX-License-Identifier: Apache-2.0
// kafkajs scenarios against a running ringletd, driven by test_kafkajs.py:
//   node kjs_test.js <scenario> <host:port> [count]
// Exits 0 when every assertion holds, 1 with a message otherwise.
'use strict';
const { Kafka, logLevel } = require('kafkajs');

const [scenario, broker, countArg] = process.argv.slice(2);
const COUNT = parseInt(countArg || '2000', 10);

function fail(msg) {
  throw new Error('ASSERTION: ' + msg);
}
function check(cond, msg) {
  if (!cond) fail(msg);
}
function eq(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) fail(`${what}: expected ${w}, got ${g}`);
}
function log(msg) {
  console.log(`[kjs] ${msg}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(200);
  }
  fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

const kafka = new Kafka({
  clientId: 'ringlet-kjs-test',
  brokers: [broker],
  logLevel: logLevel.ERROR,
  retry: { retries: 8 },
  connectionTimeout: 5000,
  requestTimeout: 30000,
});

async function produce(topic, n, tag) {
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  const sent = [];
  const batch = 200;
  for (let i = 0; i < n; i += batch) {
    const messages = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      messages.push({
        key: `key-${j % 13}`,
        value: `${tag}-value-${String(j).padStart(6, '0')}-` + 'z'.repeat(j % 150),
        headers: { idx: String(j), kind: 'kjs' },
      });
    }
    const res = await producer.send({ topic, acks: -1, messages });
    for (const r of res) check(r.errorCode === 0, `produce error ${r.errorCode}`);
    for (const m of messages) sent.push(m);
  }
  await producer.disconnect();
  return sent;
}

async function createTopic(admin, topic, numPartitions, configEntries) {
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions, replicationFactor: 1, configEntries: configEntries || [] }],
  });
  check(created === true, `createTopics(${topic}) returned ${created}`);
}

async function roundtrip() {
  const topic = 'kjs-roundtrip';
  const admin = kafka.admin();
  await admin.connect();
  await createTopic(admin, topic, 3);
  await admin.disconnect();
  const sent = await produce(topic, COUNT, 'rt');
  const byValue = new Map(sent.map((m) => [m.value, m]));
  const got = new Map();
  const lastOffset = {};
  const consumer = kafka.consumer({ groupId: 'kjs-roundtrip-group', sessionTimeout: 10000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let done;
  const finished = new Promise((r) => (done = r));
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const v = message.value.toString();
      check(byValue.has(v), `consumed a value never produced: ${v.slice(0, 40)}`);
      check(!got.has(v), `value consumed twice: ${v.slice(0, 40)}`);
      const off = Number(message.offset);
      check(off > (lastOffset[partition] ?? -1), `partition ${partition}: offset ${off} out of order`);
      lastOffset[partition] = off;
      const m = byValue.get(v);
      eq(message.key.toString(), m.key, `key of ${v.slice(0, 20)}`);
      eq(message.headers.idx.toString(), m.headers.idx, `header idx of ${v.slice(0, 20)}`);
      eq(message.headers.kind.toString(), 'kjs', `header kind of ${v.slice(0, 20)}`);
      const ts = Number(message.timestamp);
      check(Math.abs(ts - Date.now()) < 600000, `timestamp ${ts} is not recent`);
      got.set(v, true);
      if (got.size === sent.length) done();
    },
  });
  const timer = setTimeout(() => done('timeout'), 120000);
  const r = await finished;
  clearTimeout(timer);
  await consumer.disconnect();
  check(r !== 'timeout', `consumed ${got.size} of ${sent.length} within 120 s`);
  eq(Object.keys(lastOffset).length, 3, 'partitions that delivered records');
  log(`${sent.length} records round-tripped`);
}

async function admin() {
  const a = kafka.admin();
  await a.connect();
  await createTopic(a, 'kjs-admin-a', 3, [{ name: 'retention.ms', value: '3600000' }]);
  await createTopic(a, 'kjs-admin-b', 1);
  await waitFor(async () => {
    const t = await a.listTopics();
    return t.includes('kjs-admin-a') && t.includes('kjs-admin-b');
  }, 15000, 'created topics in listTopics');
  // kafkajs answers false (instead of throwing) when every topic got TOPIC_ALREADY_EXISTS.
  const again = await a.createTopics({ topics: [{ topic: 'kjs-admin-a', numPartitions: 3 }] });
  eq(again, false, 'createTopics of an existing topic');
  const md = await a.fetchTopicMetadata({ topics: ['kjs-admin-a'] });
  eq(md.topics[0].partitions.length, 3, 'partitions of kjs-admin-a');
  const cfg = await a.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: 2 /* TOPIC */, name: 'kjs-admin-a' }],
  });
  const res = cfg.resources[0];
  eq(res.errorCode, 0, 'describeConfigs error code');
  const entries = Object.fromEntries(res.configEntries.map((e) => [e.configName, e]));
  eq(entries['retention.ms'] && entries['retention.ms'].configValue, '3600000', 'retention.ms');
  check(entries['cleanup.policy'] !== undefined, 'describeConfigs lacks cleanup.policy');
  const bcfg = await a.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: 4 /* BROKER */, name: '1' }],
  });
  eq(bcfg.resources[0].errorCode, 0, 'describeConfigs(broker 1) error code');
  check(bcfg.resources[0].configEntries.length > 0, 'broker config list is empty');
  await a.alterConfigs({
    validateOnly: false,
    resources: [{ type: 2, name: 'kjs-admin-b', configEntries: [{ name: 'retention.ms', value: '7200000' }] }],
  });
  const cfgB = await a.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: 'kjs-admin-b' }] });
  const rb = cfgB.resources[0].configEntries.find((e) => e.configName === 'retention.ms');
  eq(rb && rb.configValue, '7200000', 'retention.ms of kjs-admin-b after alterConfigs');
  await a.createPartitions({ topicPartitions: [{ topic: 'kjs-admin-b', count: 4 }] });
  const mdB = await a.fetchTopicMetadata({ topics: ['kjs-admin-b'] });
  eq(mdB.topics[0].partitions.length, 4, 'partitions of kjs-admin-b after createPartitions');
  await a.deleteTopics({ topics: ['kjs-admin-a', 'kjs-admin-b'], timeout: 10000 });
  await waitFor(async () => {
    const t = await a.listTopics();
    return !t.includes('kjs-admin-a') && !t.includes('kjs-admin-b');
  }, 15000, 'deleted topics to leave listTopics');
  await a.disconnect();
}

// eachBatch with manual commits: consume about half, commit exactly what was processed,
// disconnect; a new member of the same group must get exactly the rest.
async function consumeBatches(topic, groupId, want, stopAfter) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = [];
  let done;
  const finished = new Promise((r) => (done = r));
  let stopped = false;
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      let last = null;
      for (const m of batch.messages) {
        if (stopped || !isRunning() || isStale()) break;
        seen.push(`${batch.partition}:${m.offset}`);
        resolveOffset(m.offset);
        last = m.offset;
        if (seen.length >= stopAfter) {
          stopped = true;
          break;
        }
      }
      if (last !== null) {
        await consumer.commitOffsets([
          { topic, partition: batch.partition, offset: String(Number(last) + 1) },
        ]);
      }
      if (stopped) done();
      await heartbeat();
    },
  });
  const timer = setTimeout(() => done('timeout'), 90000);
  const r = await finished;
  clearTimeout(timer);
  await consumer.disconnect();
  check(r !== 'timeout', `group ${groupId}: consumed ${seen.length} of ${stopAfter} in 90 s`);
  return seen;
}

async function group() {
  const topic = 'kjs-group';
  const groupId = 'kjs-group-1';
  const a = kafka.admin();
  await a.connect();
  await createTopic(a, topic, 3);
  await produce(topic, COUNT, 'g');
  const first = await consumeBatches(topic, groupId, COUNT, Math.floor(COUNT / 2));
  const offs = await a.fetchOffsets({ groupId, topics: [topic] });
  const committed = {};
  for (const p of offs[0].partitions) committed[p.partition] = Number(p.offset);
  const firstMax = {};
  for (const s of first) {
    const [p, o] = s.split(':').map(Number);
    firstMax[p] = Math.max(firstMax[p] ?? -1, o);
  }
  for (const p of Object.keys(firstMax)) {
    eq(committed[p], firstMax[p] + 1, `committed offset of partition ${p}`);
  }
  const rest = await consumeBatches(topic, groupId, COUNT, COUNT - first.length);
  const all = new Set(first);
  for (const s of rest) {
    check(!all.has(s), `record ${s} consumed twice across commit/close/reopen`);
    all.add(s);
  }
  eq(all.size, COUNT, 'distinct records consumed by both members');
  await a.disconnect();
  log(`group: ${first.length} then exactly the other ${rest.length}`);
}

async function groupAdmin() {
  const topic = 'kjs-gadmin';
  const a = kafka.admin();
  await a.connect();
  await createTopic(a, topic, 2);
  await produce(topic, 100, 'ga');
  // A member that stays connected, so describeGroups sees a Stable group with one member.
  const consumer = kafka.consumer({ groupId: 'kjs-gadmin-live', sessionTimeout: 10000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let n = 0;
  await consumer.run({ eachMessage: async () => { n++; } });
  await waitFor(async () => n >= 100, 60000, 'the live group to consume 100 records');
  // A second group that commits and leaves (Empty), to be deleted.
  const c2 = kafka.consumer({ groupId: 'kjs-gadmin-empty', sessionTimeout: 10000 });
  await c2.connect();
  await c2.subscribe({ topic, fromBeginning: true });
  let n2 = 0;
  await c2.run({ eachMessage: async () => { n2++; } });
  await waitFor(async () => n2 >= 100, 60000, 'the second group to consume 100 records');
  await c2.disconnect();

  const groups = (await a.listGroups()).groups.map((g) => g.groupId);
  check(groups.includes('kjs-gadmin-live') && groups.includes('kjs-gadmin-empty'),
    `listGroups lacks the groups: ${JSON.stringify(groups)}`);
  const desc = await a.describeGroups(['kjs-gadmin-live', 'kjs-gadmin-empty']);
  const byId = Object.fromEntries(desc.groups.map((g) => [g.groupId, g]));
  eq(byId['kjs-gadmin-live'].errorCode, 0, 'describeGroups error (live)');
  eq(byId['kjs-gadmin-live'].state, 'Stable', 'state of the live group');
  eq(byId['kjs-gadmin-live'].protocolType, 'consumer', 'protocol type of the live group');
  eq(byId['kjs-gadmin-live'].members.length, 1, 'members of the live group');
  eq(byId['kjs-gadmin-empty'].state, 'Empty', 'state of the group whose member left');
  const offs = await a.fetchOffsets({ groupId: 'kjs-gadmin-empty', topics: [topic] });
  const total = offs[0].partitions.reduce((s, p) => s + Number(p.offset), 0);
  eq(total, 100, 'sum of committed offsets of kjs-gadmin-empty');
  const del = await a.deleteGroups(['kjs-gadmin-empty']);
  eq(del[0].errorCode, 0, 'deleteGroups error code');
  const after = (await a.listGroups()).groups.map((g) => g.groupId);
  check(!after.includes('kjs-gadmin-empty'), `deleted group still listed: ${JSON.stringify(after)}`);
  // Deleting a group with a live member fails (NON_EMPTY_GROUP).
  let nonEmpty = null;
  try {
    await a.deleteGroups(['kjs-gadmin-live']);
  } catch (e) {
    nonEmpty = e;
  }
  check(nonEmpty !== null, 'deleteGroups of a group with a live member succeeded');
  await consumer.disconnect();
  await a.disconnect();
}

const scenarios = { roundtrip, admin, group, groupAdmin };

(async () => {
  if (scenario === '--version') {
    console.log(require('kafkajs/package.json').version);
    return;
  }
  const fn = scenarios[scenario];
  if (!fn) {
    console.error(`unknown scenario ${scenario}; known: ${Object.keys(scenarios).join(', ')}`);
    process.exit(2);
  }
  await fn();
  log(`${scenario}: ok`);
  process.exit(0);
})().catch((e) => {
  console.error(`[kjs] FAIL: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
