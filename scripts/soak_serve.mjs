// Soak test of `pcache serve` (docs/server.md, "Benchmark"; not part of ctest):
// mixed requests for some minutes, as fast as the server answers them, then
// checks that every well-formed request was answered, that bad ones got their
// 4xx, that nothing is left running or holding KV blocks, and that the
// server's resident memory is flat.
//
//   node scripts/soak_serve.mjs [--pcache build/pcache] [--minutes 5] [--clients 8]
//
// Kinds of request: streamed chat, plain completion, PML, chat on a saved
// state, streams the client abandons after the first token, malformed JSON,
// wrong types, max_tokens over the limit, bodies over the limit.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const pcache = arg("pcache", join(root, "build/pcache"));
const minutes = Number(arg("minutes", "5"));
const only = arg("kinds", "");  // comma-separated subset of the kinds below (to find what grows)
const clients = Number(arg("clients", "8"));

const server = spawn(pcache, [
  "serve", "--port", "0", "--schema", join(root, "schemas/demo_restaurants.xml"),
  "--max-concurrent", String(clients), "--max-queue", String(clients), "--max-tokens-limit", "256",
  "--max-body-bytes", "65536", "--max-states", "64",
  // A pool this small (256 blocks) is touched whole within the first minute,
  // so that its pages (2 GiB of address space by default on the CPU, taken
  // as blocks are first written, which goes on for as long as new prefixes
  // are cached) do not read as growth.
  "--kv-pool-bytes", "16MiB",
], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, PCACHE_MODEL: "" } });
let log = "";
const base = await new Promise((resolve, reject) => {
  server.stderr.on("data", (d) => {
    if (log.length < 100000) log += d;
    const m = log.match(/listening on (http:\/\/[0-9.]+:[0-9]+)/);
    if (m) resolve(m[1]);
  });
  server.on("exit", (code) => reject(new Error(`pcache serve exited with ${code}`)));
});
const rssMiB = () => Number(readFileSync(`/proc/${server.pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]) / 1024;

async function post(path, body, raw = false) {
  const res = await fetch(base + path, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: raw ? body : JSON.stringify(body),
  });
  return res;
}

const questions = ["Do you open on Monday?", "Is there a children's menu?", "Which dishes have nuts?",
                   "Can I bring my dog?", "What is the special on Tuesday?", "Do you take cards?"];
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
const system = "You are the friendly host of a restaurant. Answer from the notes; if they do not say, say so.";
let sharedState = null;  // made before the clients start, released at the end

// Each kind: [weight, well-formed?, expected status, run] (run returns the status).
const kinds = {
  stream_chat: [25, true, 200, async () => {
    const res = await post("/v1/chat/completions", {
      messages: [{ role: "system", content: system }, { role: "user", content: pick(questions) }],
      max_tokens: 48, stream: true, temperature: 0.7, seed: Math.floor(Math.random() * 1000),
    });
    const text = await res.text();
    if (res.status === 200 && !text.endsWith("data: [DONE]\n\n")) return "incomplete stream";
    return res.status;
  }],
  completion: [20, true, 200, async () => {
    const res = await post("/v1/completions", { prompt: `Q: ${pick(questions)}\nA:`, max_tokens: 32 });
    await res.text();
    return res.status;
  }],
  pml: [10, true, 200, async () => {
    const r = pick(["restaurant_a", "restaurant_b"]);
    const res = await post("/v1/chat/completions", {
      pml: `<prompt schema="demo_restaurants"><${r}><hours/><menu/></${r}><user>${pick(questions)}</user></prompt>`,
      max_tokens: 32,
    });
    await res.text();
    return res.status;
  }],
  state_turn: [10, true, 200, async () => {
    const res = await post("/v1/chat/completions", {
      state: sharedState, messages: [{ role: "user", content: pick(questions) }], max_tokens: 32,
    });
    await res.text();
    return res.status;
  }],
  abandoned_stream: [10, true, 200, async () => {
    const abort = new AbortController();
    const res = await fetch(base + "/v1/completions", {
      method: "POST", headers: { "Content-Type": "application/json" }, signal: abort.signal,
      body: JSON.stringify({ prompt: "Once upon a time", max_tokens: 256, ignore_eos: true, stream: true }),
    });
    const reader = res.body.getReader();
    await reader.read();
    abort.abort();
    return res.status;
  }],
  bad_json: [7, false, 400, async () => {
    const res = await post("/v1/chat/completions", '{"messages": [{"role": "user", "content": "hi"', true);
    await res.text();
    return res.status;
  }],
  wrong_type: [6, false, 400, async () => {
    const res = await post("/v1/completions", { prompt: "hi", max_tokens: "many" });
    await res.text();
    return res.status;
  }],
  over_max_tokens: [6, false, 400, async () => {
    const res = await post("/v1/completions", { prompt: "hi", max_tokens: 100000 });
    await res.text();
    return res.status;
  }],
  over_body: [6, false, 413, async () => {
    const res = await post("/v1/completions", { prompt: "x".repeat(70000) });
    await res.text();
    return res.status;
  }],
};
const table = Object.entries(kinds)
  .filter(([name]) => !only || only.split(",").includes(name))
  .flatMap(([name, [w]]) => Array(w).fill(name));
const counts = Object.fromEntries(Object.keys(kinds).map((k) => [k, { sent: 0, expected: 0, other: {} }]));

sharedState = (await (await post("/v1/states", { messages: [{ role: "system", content: system }] })).json()).id;
const start = Date.now(), end = start + minutes * 60000;
const rss = [];
const sampler = setInterval(() => rss.push([Math.round((Date.now() - start) / 1000), rssMiB()]), 10000);
async function client() {
  while (Date.now() < end) {
    const kind = pick(table);
    const [, , expected, run] = kinds[kind];
    const c = counts[kind];
    ++c.sent;
    let status;
    try {
      status = await run();
    } catch (e) {
      status = `error: ${e.cause?.code ?? e.message}`;
    }
    if (status === expected) ++c.expected;
    else c.other[status] = (c.other[status] ?? 0) + 1;
  }
}
await Promise.all(Array.from({ length: clients }, client));
clearInterval(sampler);
rss.push([Math.round((Date.now() - start) / 1000), rssMiB()]);

// Nothing left running or holding blocks (but the one shared state).
await new Promise((r) => setTimeout(r, 500));
const metrics = await (await fetch(base + "/metrics")).text();
const gauge = (name) => Number(metrics.match(new RegExp(`^${name} (\\S+)$`, "m"))[1]);
const inFlight = gauge("pcache_requests_in_flight"), running = gauge("pcache_running_sequences");
const blocksInUse = gauge('pcache_kv_blocks\\{state="in_use"\\}');
const cancelled = gauge("pcache_cancelled_requests_total");
await fetch(`${base}/v1/states/${sharedState}`, { method: "DELETE" });
const blocksAfterRelease = Number((await (await fetch(base + "/metrics")).text())
  .match(/^pcache_kv_blocks\{state="in_use"\} (\S+)$/m)[1]);

server.kill("SIGTERM");
const exitCode = await new Promise((r) => server.on("exit", (code) => r(code)));

let failures = 0;
console.log(`soak: ${minutes} min, ${clients} clients, ${base}`);
console.log("kind               sent  as expected  other");
let wellFormed = 0, answered = 0;
for (const [kind, c] of Object.entries(counts)) {
  console.log(`${kind.padEnd(18)} ${String(c.sent).padStart(5)} ${String(c.expected).padStart(12)}  ${JSON.stringify(c.other)}`);
  if (Object.keys(c.other).length) ++failures;
  if (kinds[kind][1]) { wellFormed += c.sent; answered += c.expected; }
}
const total = Object.values(counts).reduce((n, c) => n + c.sent, 0);
console.log(`requests: ${total} (${(total / (minutes * 60)).toFixed(2)}/s); well-formed answered: ${answered}/${wellFormed}`);
console.log(`RSS MiB (s, MiB): ${rss.map(([t, m]) => `${t}:${m.toFixed(0)}`).join(" ")}`);
const settled = rss.find(([t]) => t >= 60)?.[1] ?? rss[0][1], last = rss[rss.length - 1][1];
console.log(`RSS after 1 min ${settled.toFixed(1)} MiB, at the end ${last.toFixed(1)} MiB (${(100 * (last - settled) / settled).toFixed(1)}%)`);
console.log(`generations cancelled when their client left: ${cancelled} (abandoned streams: ${counts.abandoned_stream.sent})`);
console.log(`after the load: in flight ${inFlight}, running ${running}, KV blocks in use ${blocksInUse} (${blocksAfterRelease} once the shared state is released); exit code ${exitCode}`);
if (inFlight !== 0 || running !== 0 || blocksAfterRelease !== 0 || exitCode !== 0) ++failures;
if (last > settled * 1.1) { console.log("memory grew more than 10% after the first minute"); ++failures; }
console.log(failures ? "SOAK FAILED" : "SOAK PASSED");
process.exit(failures ? 1 : 0);
