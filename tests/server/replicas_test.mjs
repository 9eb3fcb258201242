// Two `pcache serve` replicas on one real redis-server (the remote tier,
// docs/server.md "Replicas"): what one encoded the other reads from Redis (no
// module encoded again), a state one saved under a name the other continues,
// another tenant cannot load it, and with Redis killed both still answer.
//
//   node replicas_test.mjs PCACHE_BINARY SCHEMA_FILE
//
// Deterministic: greedy decoding, no assertion on time; waits poll.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [pcache, schema] = process.argv.slice(2);
const KEY_A = "replica-key-a", KEY_B = "replica-key-b";
const dir = mkdtempSync(join(tmpdir(), "pcache-replicas-"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const freePort = () => new Promise((resolve, reject) => {
  const s = net.createServer();
  s.on("error", reject);
  s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

const redisPort = await freePort();
const redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--dir", dir,
  "--save", "", "--appendonly", "no"], { stdio: "ignore" });
redis.on("error", () => {});
for (let i = 0; ; ++i) {
  const r = spawnSync("redis-cli", ["-p", String(redisPort), "ping"], { encoding: "utf8" });
  if ((r.stdout || "").trim() === "PONG") break;
  if (i > 500) throw new Error("redis-server did not start (scripts/setup.sh installs it)");
  await sleep(20);
}
// A loaded machine (CI) must not make Redis look down: a generous timeout.
const config = join(dir, "config.yaml");
writeFileSync(config, "cache:\n  remote_timeout_ms: 20000\n");

const servers = [];
async function serve(name) {
  const proc = spawn(pcache, ["serve", "--port", "0", "--api-key", KEY_A, "--api-key", KEY_B, "--schema",
    schema, "--remote", `redis://127.0.0.1:${redisPort}`, "--shutdown-grace", "1"],
  { stdio: ["ignore", "inherit", "pipe"], env: { ...process.env, PCACHE_MODEL: "", PCACHE_CONFIG: config } });
  servers.push(proc);
  let log = "";
  const exited = new Promise((resolve) => proc.on("exit", (code) => resolve(code)));
  const base = await new Promise((resolve, reject) => {
    proc.stderr.on("data", (d) => {
      process.stderr.write(`[${name}] ${d}`);
      log += d;
      const m = log.match(/listening on (http:\/\/[0-9.]+:[0-9]+)/);
      if (m) resolve(m[1]);
    });
    proc.on("exit", (code) => reject(new Error(`${name} exited with ${code} before listening`)));
  });
  return { name, proc, base, exited, stop: async () => { proc.kill("SIGTERM"); return exited; } };
}

async function http(replica, method, path, body, key = KEY_A) {
  const headers = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(replica.base + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* metrics are text */ }
  return { status: res.status, json, text };
}

async function metric(replica, name) {
  const { text } = await http(replica, "GET", "/metrics");
  const escaped = name.replace(/[{}]/g, "\\$&");
  const m = text.match(new RegExp(`^${escaped} ([0-9.e+-]+)$`, "m"));
  assert.ok(m, `${name} in /metrics of ${replica.name}`);
  return Number(m[1]);
}

const question = {
  model: "pcache-demo", temperature: 0, max_tokens: 6,
  pml: '<prompt schema="demo_restaurants"><restaurant_a/><user>Do you open on Mondays?</user></prompt>',
};
const history = [{ role: "system", content: "You are the host of a small cafe." },
  { role: "user", content: "Do you have a table for two?" },
  { role: "assistant", content: "Yes, we do." }];
const conversation = [...history, { role: "user", content: "At eight?" }];

let failed = false;
async function step(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failed = true;
    console.log(`not ok - ${name}\n  ${e.stack || e}`);
  }
}

try {
  // The first replica encodes the schema's modules at start, and writes
  // them behind to Redis; stopping it drains what it has left to write.
  const first = await serve("first");
  assert.ok(await metric(first, "pcache_module_store_misses_total") > 0, "the first replica encoded");
  assert.equal(await first.stop(), 0, "the first replica exits 0");

  const a = await serve("a");
  const b = await serve("b");
  await step("a replica reads every module from Redis: none encoded", async () => {
    assert.equal(await metric(b, "pcache_module_store_misses_total"), 0);
    assert.ok(await metric(b, 'pcache_module_store_hits_total{tier="remote"}') > 0);
    const r = await http(b, "POST", "/v1/chat/completions", question);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.pcache.modules_encoded, []);
    assert.ok(r.json.pcache.modules_reused.length > 0);
  });

  let saved = null;
  await step("a state saved by one replica is continued by the other, for its tenant only", async () => {
    const created = await http(a, "POST", "/v1/states", { messages: history });
    assert.equal(created.status, 200, created.text);
    const save = await http(a, "POST", `/v1/states/${created.json.id}/save`, { name: "table-for-two", remote: true });
    assert.equal(save.status, 200, save.text);
    saved = created.json;
    const loaded = await http(b, "POST", "/v1/states/load", { name: "table-for-two", remote: true });
    assert.equal(loaded.status, 200, loaded.text);
    assert.equal(loaded.json.tokens, saved.tokens);
    const turn = await http(b, "POST", "/v1/chat/completions", {
      model: "pcache-demo", temperature: 0, max_tokens: 6, state: loaded.json.id,
      messages: [{ role: "user", content: "And dessert?" }],
    });
    assert.equal(turn.status, 200, turn.text);
    assert.ok(turn.json.usage.prompt_tokens_details.cached_tokens >= saved.tokens);
    const theirs = await http(b, "POST", "/v1/states/load", { name: "table-for-two", remote: true }, KEY_B);
    assert.equal(theirs.status, 404, theirs.text);
    const missing = await http(b, "POST", "/v1/states/load", { name: "never-saved", remote: true });
    assert.equal(missing.status, 404);
    assert.match(missing.json.error.message, /never-saved/);
    const bad = await http(b, "POST", "/v1/states/load", { name: "../x", remote: true });
    assert.equal(bad.status, 400);
  });

  await step("with Redis gone, both replicas still answer; a remote save says why it failed", async () => {
    redis.kill("SIGKILL");
    await new Promise((r) => (redis.exitCode !== null || redis.signalCode !== null ? r() : redis.on("exit", r)));
    for (const replica of [a, b]) {
      const r = await http(replica, "POST", "/v1/chat/completions", {
        model: "pcache-demo", temperature: 0, max_tokens: 4, messages: conversation,
      });
      assert.equal(r.status, 200, `${replica.name}: ${r.text}`);
      const p = await http(replica, "POST", "/v1/chat/completions", question);
      assert.equal(p.status, 200, `${replica.name}: ${p.text}`);
    }
    const created = await http(a, "POST", "/v1/states", { messages: history });
    assert.equal(created.status, 200, created.text);
    const save = await http(a, "POST", `/v1/states/${created.json.id}/save`, { name: "later", remote: true });
    assert.ok(save.status >= 500, save.text);
    assert.match(save.json.error.message, /redis|remote|connect/i);
    assert.equal((await http(a, "GET", "/health")).status, 200);
  });

  await step("both replicas stop cleanly", async () => {
    assert.equal(await a.stop(), 0);
    assert.equal(await b.stop(), 0);
  });
} catch (e) {
  failed = true;
  console.log(`not ok - ${e.stack || e}`);
} finally {
  for (const s of servers) if (s.exitCode === null) s.kill("SIGKILL");
  if (redis.exitCode === null && redis.signalCode === null) redis.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
console.log(failed ? "not ok" : "all passed");
process.exit(failed ? 1 : 0);
