// The official OpenAI client (npm "openai", pinned in package-lock.json)
// against a real `pcache serve` with the demo model: started here on a free
// localhost port, stopped with SIGTERM (it must exit 0).
//
//   node openai_client_test.mjs PCACHE_BINARY SCHEMA_FILE
//
// Deterministic: greedy decoding, and no assertion on time. Steps that need
// the server in a given state (a stream running, a slot freed) wait for it
// through /metrics, never for a fixed delay.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";

const [pcache, schema] = process.argv.slice(2);
const KEY_A = "test-key-a", KEY_B = "test-key-b";
const stateDir = mkdtempSync(join(tmpdir(), "pcache-serve-"));

// --max-concurrent 2 --max-queue 0: a third request while two stream is a 429.
const server = spawn(pcache, [
  "serve", "--port", "0", "--api-key", KEY_A, "--api-key", KEY_B, "--schema", schema,
  "--state-dir", stateDir, "--max-concurrent", "2", "--max-queue", "0", "--max-tokens-limit", "4096",
  "--max-body-bytes", "65536", "--shutdown-grace", "1",
], { stdio: ["ignore", "inherit", "pipe"], env: { ...process.env, PCACHE_MODEL: "" } });
let log = "";
const base = await new Promise((resolve, reject) => {
  server.stderr.on("data", (d) => {
    process.stderr.write(d);
    log += d;
    const m = log.match(/listening on (http:\/\/[0-9.]+:[0-9]+)/);
    if (m) resolve(m[1]);
  });
  server.on("exit", (code) => reject(new Error(`pcache serve exited with ${code} before listening`)));
});

const client = new OpenAI({ apiKey: KEY_A, baseURL: `${base}/v1`, maxRetries: 0 });
const other = new OpenAI({ apiKey: KEY_B, baseURL: `${base}/v1`, maxRetries: 0 });
const model = "pcache-demo";
const greedy = { model, temperature: 0, max_tokens: 12 };

async function http(method, path, body, key = KEY_A, raw = false) {
  const headers = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(base + path, {
    method, headers, body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* metrics are text */ }
  return { status: res.status, json, text, headers: res.headers };
}

async function metric(name) {
  const { text } = await http("GET", "/metrics");
  const m = text.match(new RegExp(`^${name} ([0-9.e+-]+)$`, "m"));
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

async function until(what, check) {
  for (let i = 0; i < 2000; ++i) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`waited too long for ${what}`);
}

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

test("models and health", async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), [model]);
  const health = await fetch(`${base}/health`);  // no key needed
  assert.equal(health.status, 200);
});

test("chat completion, then cached_tokens > 0 on the same prompt", async () => {
  const messages = [
    { role: "system", content: "You are the host of a small restaurant. Answer briefly." },
    { role: "user", content: "Do you have a table for two tonight, and do you serve vegetarian dishes?" },
  ];
  const first = await client.chat.completions.create({ ...greedy, messages });
  assert.equal(first.object, "chat.completion");
  assert.equal(first.choices[0].message.role, "assistant");
  assert.ok(first.choices[0].message.content.length > 0);
  assert.ok(["stop", "length"].includes(first.choices[0].finish_reason));
  assert.equal(first.usage.completion_tokens > 0, true);
  assert.equal(typeof first.usage.prompt_tokens_details.cached_tokens, "number");
  const again = await client.chat.completions.create({ ...greedy, messages });
  assert.ok(again.usage.prompt_tokens_details.cached_tokens > 0, "the repeated prompt reuses its prefix");
  assert.equal(again.choices[0].message.content, first.choices[0].message.content);
  // Another key never reuses this key's prefix.
  const theirs = await other.chat.completions.create({ ...greedy, messages });
  assert.equal(theirs.usage.prompt_tokens_details.cached_tokens, 0);
});

test("streamed chat equals the whole answer, with usage", async () => {
  const messages = [{ role: "user", content: "What is on the menu today, and which of the dishes have no nuts in them?" }];
  const whole = await client.chat.completions.create({ ...greedy, messages });
  const stream = await client.chat.completions.create({
    ...greedy, messages, stream: true, stream_options: { include_usage: true },
  });
  let text = "", finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    ++chunks;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta?.content ?? "";
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(chunks > 2);
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
  assert.ok(usage.prompt_tokens_details.cached_tokens > 0);
});

test("completions, streamed and not, with a stop string", async () => {
  const prompt = "The opening hours of the restaurant are";
  const whole = await client.completions.create({ ...greedy, prompt, max_tokens: 16 });
  assert.equal(whole.object, "text_completion");
  const text = whole.choices[0].text;
  assert.ok(text.length > 0);
  let streamed = "";
  for await (const chunk of await client.completions.create({ ...greedy, prompt, max_tokens: 16, stream: true })) {
    streamed += chunk.choices[0]?.text ?? "";
  }
  assert.equal(streamed, text);
  // Stopping at a piece of the answer cuts it there, with finish_reason "stop".
  // (split on any run of white space: the model may write "Monday:  closed")
  const cut = text.trim().split(/\s+/)[1] ?? text.trim();
  const stopped = await client.completions.create({ ...greedy, prompt, max_tokens: 16, stop: [cut] });
  assert.equal(stopped.choices[0].text, text.slice(0, text.indexOf(cut)));
  assert.equal(stopped.choices[0].finish_reason, "stop");
});

test("a PML prompt names the modules it reused and encoded, and may pick its encoding", async () => {
  const pml = `<prompt schema="demo_restaurants"><restaurant_a><hours/><menu/></restaurant_a>` +
              `<user>When are you open on Friday?</user></prompt>`;
  const all = ["", "restaurant_a", "restaurant_a/hours", "restaurant_a/menu"];
  const r = await client.chat.completions.create({ ...greedy, pml });
  assert.ok(r.choices[0].message.content.length > 0);
  assert.ok(r.usage.prompt_tokens_details.cached_tokens > 0);
  assert.deepEqual(r.pcache.modules_reused, all);  // compiled at start
  assert.deepEqual(r.pcache.modules_encoded, []);
  // The schema is scaffold; independent states are encoded for the first
  // request that asks, then reused.
  const first = await client.chat.completions.create({ ...greedy, pml, encoding: "independent" });
  assert.deepEqual(first.pcache.modules_encoded, all);
  const second = await client.chat.completions.create({ ...greedy, pml, encoding: "independent", stream: true });
  let last = null;
  for await (const chunk of second) if (chunk.pcache) last = chunk.pcache;
  assert.deepEqual(last.modules_reused, all);
  assert.deepEqual(last.modules_encoded, []);
  const pair = await client.chat.completions.create({ ...greedy, pml, encoding: "independent", n: 2 });
  assert.deepEqual(pair.choices.map((c) => c.message.content), [first.choices[0].message.content, first.choices[0].message.content]);
  assert.deepEqual(pair.pcache.modules_reused, all);
  await assert.rejects(client.chat.completions.create({ ...greedy, pml, encoding: "fast" }),
                       (e) => e.status === 400 && e.param === "encoding");
  await assert.rejects(client.chat.completions.create({ ...greedy, messages: [{ role: "user", content: "x" }], encoding: "scaffold" }),
                       (e) => e.status === 400 && e.param === "encoding");
  const schemas = await http("GET", "/v1/schemas");
  assert.deepEqual(schemas.json.data.map((s) => s.name), ["demo_restaurants"]);
});

test("a key's schemas are its own: listed, used and deleted by it alone", async () => {
  const xml = `<schema name="notes">Notes.<module name="hours">Open from noon to ten, every day.</module></schema>`;
  const names = async (key) => (await http("GET", "/v1/schemas", undefined, key)).json.data.map((s) => s.name).sort();
  const mine = await http("POST", "/v1/schemas", xml, KEY_A, true);
  assert.equal(mine.status, 200, mine.text);
  assert.equal(mine.json.shared, false);
  assert.deepEqual(await names(KEY_A), ["demo_restaurants", "notes"]);
  assert.deepEqual(await names(KEY_B), ["demo_restaurants"]);
  const pml = `<prompt schema="notes"><hours/><user>When do you open?</user></prompt>`;
  const used = await client.chat.completions.create({ ...greedy, pml });
  assert.deepEqual(used.pcache.modules_reused, ["", "hours"]);
  await assert.rejects(other.chat.completions.create({ ...greedy, pml }),
                       (e) => e.status === 400 && e.param === "pml" && /unknown schema 'notes'/.test(e.message));
  assert.equal((await http("POST", "/v1/states", { pml }, KEY_B)).status, 400);
  assert.equal((await http("DELETE", "/v1/schemas/notes", undefined, KEY_B)).status, 404);
  const shared = await http("DELETE", "/v1/schemas/demo_restaurants", undefined, KEY_B);
  assert.equal(shared.status, 403);
  assert.equal(shared.json.error.param, "name");
  // The same schema for the other key: encoded again, for it alone.
  const theirs = await http("POST", "/v1/schemas", xml, KEY_B, true);
  assert.equal(theirs.status, 200, theirs.text);
  assert.ok(theirs.json.modules.every((m) => !m.was_cached), theirs.text);
  assert.equal((await http("DELETE", "/v1/schemas/notes")).status, 200);
  await assert.rejects(client.chat.completions.create({ ...greedy, pml }), (e) => e.status === 400);
  assert.deepEqual((await other.chat.completions.create({ ...greedy, pml })).pcache.modules_reused, ["", "hours"]);
  assert.equal((await http("DELETE", "/v1/schemas/notes", undefined, KEY_B)).status, 200);
});

test("n > 1: answers from one prefill, each with its index, streamed too", async () => {
  const messages = [{ role: "user", content: "Name one dish that you serve." }];
  const one = await client.chat.completions.create({ ...greedy, messages });
  const two = await client.chat.completions.create({ ...greedy, messages, n: 2 });
  assert.deepEqual(two.choices.map((c) => c.index), [0, 1]);
  for (const c of two.choices) assert.equal(c.message.content, one.choices[0].message.content);  // greedy
  assert.equal(two.usage.prompt_tokens, one.usage.prompt_tokens);
  assert.equal(two.usage.completion_tokens, 2 * one.usage.completion_tokens);
  const texts = ["", ""], finish = [null, null];
  for await (const chunk of await client.chat.completions.create({ ...greedy, messages, n: 2, stream: true })) {
    for (const c of chunk.choices) {
      texts[c.index] += c.delta?.content ?? "";
      if (c.finish_reason) finish[c.index] = c.finish_reason;
    }
  }
  assert.deepEqual(texts, two.choices.map((c) => c.message.content));
  assert.deepEqual(finish, two.choices.map((c) => c.finish_reason));
  // Sampled, on a state: choice i samples with seed + i.
  const state = (await http("POST", "/v1/states", { prompt: "The specials of the day are" })).json.id;
  const sampled = { model, temperature: 1, max_tokens: 8, prompt: " soup,", state };
  const pair = await client.completions.create({ ...sampled, seed: 7, n: 2 });
  const lone = await client.completions.create({ ...sampled, seed: 8 });
  assert.equal(pair.choices[1].text, lone.choices[0].text);
  assert.equal((await http("DELETE", `/v1/states/${state}`)).status, 200);
  await assert.rejects(client.chat.completions.create({ ...greedy, messages, n: 3 }),  // over --max-concurrent
                       (e) => e.status === 400 && e.param === "n");
  await assert.rejects(client.chat.completions.create({ ...greedy, messages, n: 2, save_state: true }),
                       (e) => e.status === 400 && e.param === "n");
});

test("saved states: create, continue, chat with save_state, delete, save and load", async () => {
  const created = await http("POST", "/v1/states", { prompt: "A list of the dishes of the house:" });
  assert.equal(created.status, 200);
  const state = created.json.id;
  const a = await client.completions.create({ ...greedy, prompt: " 1.", state });
  const b = await client.completions.create({ ...greedy, prompt: " 1.", state });
  assert.equal(a.choices[0].text, b.choices[0].text);  // the state did not change
  assert.ok(a.usage.prompt_tokens_details.cached_tokens >= created.json.tokens);
  // Another key cannot see it.
  assert.equal((await http("GET", `/v1/states/${state}`, undefined, KEY_B)).status, 404);

  const turn1 = await client.chat.completions.create({
    ...greedy, save_state: true,
    messages: [{ role: "system", content: "You are a restaurant host." }, { role: "user", content: "Hello!" }],
  });
  const s1 = turn1.pcache.state;
  assert.match(s1, /^st-[0-9]+$/);
  const turn2 = await client.chat.completions.create({
    ...greedy, state: s1, save_state: true, messages: [{ role: "user", content: "Do you open on Monday?" }],
  });
  assert.ok(turn2.usage.prompt_tokens_details.cached_tokens > turn1.usage.prompt_tokens,
            "the second turn prefills only its new line");
  const saved = await http("POST", `/v1/states/${turn2.pcache.state}/save`, { name: "conversation" });
  assert.equal(saved.status, 200, saved.text);
  const loaded = await http("POST", "/v1/states/load", { name: "conversation" });
  assert.equal(loaded.status, 200, loaded.text);
  const fromFile = await client.chat.completions.create({
    ...greedy, state: loaded.json.id, messages: [{ role: "user", content: "Thanks!" }],
  });
  const fromMemory = await client.chat.completions.create({
    ...greedy, state: turn2.pcache.state, messages: [{ role: "user", content: "Thanks!" }],
  });
  assert.equal(fromFile.choices[0].message.content, fromMemory.choices[0].message.content);
  assert.equal((await http("POST", "/v1/states/load", { name: "../etc/passwd" })).status, 400);
  assert.equal((await http("POST", "/v1/states/load", { name: "conversation" }, KEY_B)).status, 404);
  for (const id of [state, s1, turn2.pcache.state, loaded.json.id]) {
    assert.equal((await http("DELETE", `/v1/states/${id}`)).status, 200);
  }
  await assert.rejects(client.completions.create({ ...greedy, prompt: "x", state }),
                       (e) => e.status === 404 && /state/.test(e.message));
});

test("a key's states are its own, and its share of max_states is its own too", async () => {
  const mine = (await http("POST", "/v1/states", { prompt: "Kept by the first key." })).json.id;
  const ids = (key) => http("GET", "/v1/states", undefined, key).then((r) => r.json.data.map((s) => s.id));
  assert.ok(!(await ids(KEY_B)).includes(mine));
  assert.equal((await http("DELETE", `/v1/states/${mine}`, undefined, KEY_B)).status, 404);
  await assert.rejects(other.completions.create({ ...greedy, prompt: "x", state: mine }), (e) => e.status === 404);
  // Two keys, max_states 8: each key holds 4; the other key's fifth pushes out its own first.
  const theirs = [];
  for (let i = 0; i < 5; ++i) {
    theirs.push((await http("POST", "/v1/states", { prompt: `Kept by the second key, number ${i}.` }, KEY_B)).json.id);
  }
  assert.deepEqual((await ids(KEY_B)).sort(), theirs.slice(1).sort());
  assert.equal((await http("GET", `/v1/states/${theirs[0]}`, undefined, KEY_B)).status, 404);
  assert.equal((await http("GET", `/v1/states/${mine}`)).status, 200);
  for (const id of theirs.slice(1)) assert.equal((await http("DELETE", `/v1/states/${id}`, undefined, KEY_B)).status, 200);
  assert.equal((await http("DELETE", `/v1/states/${mine}`)).status, 200);
});

test("401 with a wrong key", async () => {
  const intruder = new OpenAI({ apiKey: "wrong", baseURL: `${base}/v1`, maxRetries: 0 });
  await assert.rejects(intruder.models.list(), (e) => e.status === 401);
});

test("400 naming the field on bad input", async () => {
  const bad = await http("POST", "/v1/chat/completions", '{"model": "pcache-demo", "messages": [', KEY_A, true);
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /malformed JSON/);
  await assert.rejects(client.chat.completions.create({ ...greedy, temperature: 7, messages: [{ role: "user", content: "x" }] }),
                       (e) => e.status === 400 && e.param === "temperature");
  await assert.rejects(client.chat.completions.create({ ...greedy, messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: { name: "f" } }] }),
                       (e) => e.status === 400 && e.param === "tools");
  await assert.rejects(client.chat.completions.create({ ...greedy, max_tokens: 100000, messages: [{ role: "user", content: "x" }] }),
                       (e) => e.status === 400 && e.param === "max_tokens");
  const pml = await http("POST", "/v1/chat/completions", { pml: "<prompt schema='nope'><user>x</user></prompt>" });
  assert.equal(pml.status, 400);
  assert.match(pml.json.error.message, /nope/);
  const big = await http("POST", "/v1/completions", { prompt: "x".repeat(70000) });
  assert.equal(big.status, 413);
});

// What the SDK cannot send: a malformed request line, an unknown route.
test("malformed HTTP and unknown routes get a 4xx", async () => {
  const { port, hostname } = new URL(base);
  // Written without closing our side: a half-closed socket may be dropped unanswered.
  const reply = await new Promise((resolve, reject) => {
    let got = "";
    const s = net.connect(Number(port), hostname, () => s.write("NOT HTTP AT ALL\r\n\r\n"));
    s.on("data", (d) => {
      got += d;
      if (got.includes("\r\n\r\n")) {
        s.destroy();
        resolve(got);
      }
    });
    s.on("end", () => resolve(got));
    s.on("error", reject);
  });
  assert.match(reply, /^HTTP\/1\.1 400/);
  const none = await http("GET", "/v1/nothing");
  assert.equal(none.status, 404);
  assert.match(none.json.error.message, /no route GET \/v1\/nothing/);
  const wrong = await http("POST", "/v1/completions", { prompt: "hi", max_tokens: "many" });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json.error.param, "max_tokens");
});

// Two long streams fill the server (--max-concurrent 2 --max-queue 0): a
// third request is refused with 429; one client then leaves mid-stream, the
// other stream goes on to its end, and the freed place serves a new request.
test("429 when full; a client that leaves mid-stream is cancelled, others are served", async () => {
  const long = { model, max_tokens: 4000, ignore_eos: true, stream: true, temperature: 0 };
  const leaving = new AbortController();
  const streamA = await client.completions.create({ ...long, prompt: "Once upon a time" }, { signal: leaving.signal });
  const streamB = await client.completions.create({ ...long, prompt: "In a small town", max_tokens: 200 });
  const itA = streamA[Symbol.asyncIterator](), itB = streamB[Symbol.asyncIterator]();
  await itA.next();
  await itB.next();  // both are generating
  const full = await http("POST", "/v1/completions", { prompt: "hi", max_tokens: 2 });
  assert.equal(full.status, 429);
  assert.equal(full.headers.get("retry-after"), "1");
  assert.equal(full.json.error.type, "rate_limit_error");
  const cancelledBefore = await metric("pcache_cancelled_requests_total");
  leaving.abort();
  await until("the left stream to be cancelled", async () =>
    (await metric("pcache_cancelled_requests_total")) > cancelledBefore);
  let rest = "";
  for (let r = await itB.next(); !r.done; r = await itB.next()) rest += r.value.choices[0]?.text ?? "";
  assert.ok(rest.length > 0);
  const after = await client.completions.create({ ...greedy, prompt: "hi", max_tokens: 2 });
  assert.equal(after.choices.length, 1);
  await until("no request left in flight", async () => (await metric("pcache_requests_in_flight")) === 0);
  const running = await metric("pcache_running_sequences");
  assert.equal(running, 0);
});

test("a client that leaves a request that is not streamed cancels it too", async () => {
  const before = await metric("pcache_cancelled_requests_total");
  const leaving = new AbortController();
  const pending = client.completions.create(
    { model, prompt: "Once upon a time", max_tokens: 4000, ignore_eos: true, temperature: 0 },
    { signal: leaving.signal }).catch(() => "aborted");
  await until("the request to run", async () => (await metric("pcache_running_sequences")) >= 1);
  leaving.abort();
  assert.equal(await pending, "aborted");
  await until("its generation to be cancelled", async () =>
    (await metric("pcache_cancelled_requests_total")) > before);
  await until("no request left in flight", async () => (await metric("pcache_requests_in_flight")) === 0);
});

test("metrics count requests, tokens and cache hits", async () => {
  const { text } = await http("GET", "/metrics");
  assert.match(text, /pcache_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} [1-9]/);
  assert.match(text, /pcache_requests_total\{endpoint="\/v1\/chat\/completions",status="400"\} [1-9]/);
  assert.ok((await metric("pcache_cached_tokens_total")) > 0);
  assert.ok((await metric("pcache_time_to_first_token_seconds_count")) > 0);
  assert.equal(await metric('pcache_kv_blocks{state="in_use"}') >= 0, true);
});

let failed = 0;
for (const [name, fn] of tests) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    ++failed;
    console.log(`not ok - ${name}\n${e.stack}`);
  }
}

// SIGTERM with a stream in flight that would outlast the grace period: the
// server stops taking requests, cuts the stream short (it still ends with
// [DONE]) and exits 0.
const exited = new Promise((resolve) => server.on("exit", (code, signal) => resolve({ code, signal })));
const longStream = await client.completions.create({
  model, prompt: "Once upon a time", max_tokens: 4000, ignore_eos: true, stream: true, temperature: 0,
});
const it = longStream[Symbol.asyncIterator]();
await it.next();
server.kill("SIGTERM");
let finish = null;
try {
  for (let r = await it.next(); !r.done; r = await it.next()) {
    finish = r.value.choices[0]?.finish_reason ?? finish;
  }
} catch (e) {
  ++failed;
  console.log(`not ok - the stream in flight at SIGTERM did not end cleanly: ${e.message}`);
}
const { code, signal } = await exited;
if (finish !== "length") {
  ++failed;
  console.log(`not ok - the stream cut at shutdown ended with finish_reason ${finish}`);
}
rmSync(stateDir, { recursive: true, force: true });
if (code !== 0) {
  ++failed;
  console.log(`not ok - pcache serve exited with ${code ?? signal} after SIGTERM`);
} else {
  console.log("ok - SIGTERM: exit 0");
}
console.log(failed ? `${failed} failed` : "all passed");
process.exit(failed ? 1 : 0);
