// `pcache serve` on tokenizer.json-only checkpoints (the Llama 3 and Qwen 2
// fixtures of tests/fixtures/hf-variants): the OpenAI client's chat request
// is answered, in the checkpoint's own chat template: the prompt tokens the
// server reports are those `pcache tokenize --messages` gives for the same
// conversation, which applies that template.
//
//   node checkpoint_templates_test.mjs PCACHE_BINARY MODEL_DIR...
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";

const [pcache, ...models] = process.argv.slice(2);
const work = mkdtempSync(join(tmpdir(), "pcache-templates-"));
const messages = [
  { role: "system", content: "You answer in one word." },
  { role: "user", content: "Where is the café? 🍰" },
];
const messagesFile = join(work, "messages.json");
writeFileSync(messagesFile, JSON.stringify(messages));

let failed = false;
for (const dir of models) {
  const expected = JSON.parse(
    execFileSync(pcache, ["tokenize", "--model", dir, "--messages", messagesFile], { encoding: "utf8" }));
  const server = spawn(pcache, ["serve", "--port", "0", "--model", dir],
                       { stdio: ["ignore", "inherit", "pipe"] });
  let log = "";
  const exited = new Promise((resolve) => server.on("exit", resolve));
  try {
    const base = await new Promise((resolve, reject) => {
      server.stderr.on("data", (d) => {
        log += d;
        const m = log.match(/listening on (http:\/\/[0-9.]+:[0-9]+)/);
        if (m) resolve(m[1]);
      });
      server.on("exit", (code) => reject(new Error(`pcache serve exited with ${code}: ${log}`)));
    });
    const client = new OpenAI({ apiKey: "none", baseURL: `${base}/v1`, maxRetries: 0 });
    const [{ id: model }] = (await client.models.list()).data;
    const reply = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 4 });
    assert.equal(typeof reply.choices[0].message.content, "string");
    assert.equal(reply.usage.prompt_tokens, expected.ids.length,
                 `prompt tokens of ${dir}: the template of ${expected.text}`);
    assert.ok(reply.usage.completion_tokens >= 1 && reply.usage.completion_tokens <= 4);
    console.log(`ok - ${dir}: ${reply.usage.prompt_tokens} prompt tokens in the checkpoint's template`);
  } catch (e) {
    failed = true;
    console.log(`not ok - ${dir}: ${e.message}`);
  }
  server.kill("SIGTERM");
  const code = await exited;
  if (code !== 0) {
    failed = true;
    console.log(`not ok - ${dir}: pcache serve exited with ${code} after SIGTERM`);
  }
}
rmSync(work, { recursive: true, force: true });
if (!failed) console.log("all passed");
process.exit(failed ? 1 : 0);
