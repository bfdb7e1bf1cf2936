// Test helpers: the real `prism serve` binary on a loopback port, its REST API, and the
// models of testdata/.
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const zlib = require("node:zlib");

const ROOT = path.resolve(__dirname, "..", "..");
const PARENT = "projects/ui-test/locations/local";
const BIN = path.resolve(ROOT, process.env.PRISM_BIN || "target/debug/prism");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = path.join(ROOT, "ui-tests", "artifacts");

function modelDir(name) {
  return path.join(ROOT, "testdata", "models", name);
}

function instances(name) {
  return fs
    .readFileSync(path.join(modelDir(name), "instances.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l));
}

/** Starts `prism serve` on 127.0.0.1:0 with a fresh data directory. */
async function startServer({ tokens } = {}) {
  if (!fs.existsSync(BIN)) {
    throw new Error(`no prism binary at ${BIN}: build it (cargo build -p prism-cli) or set PRISM_BIN`);
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "prism-ui-"));
  const env = { ...process.env, RUST_LOG: "warn" };
  delete env.PRISM_AUTH_TOKENS;
  if (tokens) env.PRISM_AUTH_TOKENS = tokens.join(",");
  const child = spawn(BIN, ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 60_000);
    child.stderr.on("data", (chunk) => {
      log += chunk.toString();
      const m = log.match(/prism serve: listening on (\S+)\r?\n/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${log}`));
    });
  });
  const token = tokens ? tokens[0] : undefined;
  return {
    base,
    token,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
    /** Calls the REST API; returns [status, JSON body]. */
    async api(method, apiPath, body) {
      const headers = { "content-type": "application/json" };
      if (token) headers.authorization = `Bearer ${token}`;
      const response = await fetch(`${base}/v1/${apiPath}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = text;
      }
      return [response.status, json];
    },
  };
}

async function waitOperation(server, op) {
  const [status, done] = await server.api("POST", `${op.name}:wait`, { timeout: "60s" });
  if (status !== 200 || done.done !== true || done.error) {
    throw new Error(`operation ${op.name} failed: ${status} ${JSON.stringify(done)}`);
  }
  return done;
}

/** Uploads a model directory of testdata/models and waits for it. */
async function upload(server, modelId, dirName, model = {}) {
  const [status, op] = await server.api("POST", `${PARENT}/models:upload`, {
    modelId,
    model: { displayName: `${dirName} model`, artifactUri: modelDir(dirName), ...model },
  });
  if (status !== 200) throw new Error(`upload ${modelId}: ${status} ${JSON.stringify(op)}`);
  return waitOperation(server, op);
}

/** Creates an endpoint and deploys a model on it; returns the DeployedModel id. */
async function deploy(server, modelId, endpointId) {
  let [status, op] = await server.api("POST", `${PARENT}/endpoints?endpointId=${endpointId}`, {
    displayName: endpointId,
  });
  if (status !== 200) throw new Error(`endpoint ${endpointId}: ${status} ${JSON.stringify(op)}`);
  [status, op] = await server.api("POST", `${PARENT}/endpoints/${endpointId}:deployModel`, {
    deployedModel: { model: `${PARENT}/models/${modelId}` },
  });
  if (status !== 200) throw new Error(`deploy ${modelId}: ${status} ${JSON.stringify(op)}`);
  const done = await waitOperation(server, op);
  return done.response.deployedModel.id;
}

/** `:explain` through the REST API for one instance on one deployment. */
async function explain(server, endpointId, deployedModelId, instance) {
  const [status, body] = await server.api("POST", `${PARENT}/endpoints/${endpointId}:explain`, {
    instances: [instance],
    deployedModelId,
  });
  if (status !== 200) throw new Error(`explain: ${status} ${JSON.stringify(body)}`);
  return body;
}

/** Headless Debian Chromium, with the flags it needs as root on a closed network. */
async function launchBrowser() {
  const { chromium } = require("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Playwright gives every launch a fresh temporary profile (--user-data-dir) itself.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** A greyscale PNG file (8 bits, no filter) of `width` × `height` bytes. */
function greyPng(width, height, bytes) {
  const table = new Int32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  const crc = (buf) => {
    let c = -1;
    for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ -1) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 0; // greyscale
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw[y * (width + 1) + 1 + x] = bytes[y * width + x];
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", zlib.deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

module.exports = {
  PARENT,
  ARTIFACTS,
  modelDir,
  instances,
  startServer,
  upload,
  deploy,
  explain,
  launchBrowser,
  screenshot,
  greyPng,
};
