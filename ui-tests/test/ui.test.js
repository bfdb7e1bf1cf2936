// The web UI in a real browser: the real `prism serve` binary (PRISM_BIN, default
// target/debug/prism), real models from testdata/models uploaded and deployed through the
// REST API, headless Debian Chromium (CHROMIUM, default /usr/bin/chromium) driven by
// playwright-core. Every explanation made through a form is compared with the REST API's
// answer to the same request. Screenshots go to ui-tests/artifacts/.
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const prism = require("../lib/prism.js");

const { PARENT } = prism;

let server;
let browser;
const deployed = {};

before(async () => {
  server = await prism.startServer();
  await prism.upload(server, "mlp", "breast_cancer_mlp", { displayName: "Breast cancer MLP" });
  await prism.upload(server, "digits", "digits_cnn", { displayName: "Digits CNN" });
  await prism.upload(server, "sentiment", "text_sentiment", { displayName: "Sentiment" });
  const examples = path.join(prism.modelDir("digits_examples"), "examples.jsonl");
  await prism.upload(server, "digits-ex", "digits_examples", {
    displayName: "Digits examples",
    explanationSpec: {
      parameters: {
        examples: {
          exampleGcsSource: { dataFormat: "JSONL", gcsSource: { uris: [examples] } },
          presets: { modality: "IMAGE" },
          neighborCount: 5,
        },
      },
    },
  });
  // Not deployed, with markup in its names: shown as text, never as markup.
  await prism.upload(server, "linear", "peer_linear", {
    displayName: "<img src=x onerror=\"window.pwned=1\"> & <b>co</b>",
    description: "<script>window.pwned=2</script>",
  });
  deployed.mlp = await prism.deploy(server, "mlp", "ep-mlp");
  deployed.digits = await prism.deploy(server, "digits", "ep-digits");
  deployed.sentiment = await prism.deploy(server, "sentiment", "ep-sentiment");
  deployed.examples = await prism.deploy(server, "digits-ex", "ep-examples");
  browser = await prism.launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

async function newPage(viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.problems = problems;
  return page;
}

function modelUrl(id) {
  return `${server.base}/ui/${PARENT}/models/${id}`;
}

/** Runs the try-it form and waits for its answer. */
async function runExplain(page) {
  await page.click("#explain-button");
  await page.waitForSelector("#result .explanation, #result .alert", { timeout: 60_000 });
}

/** How many different colours the loaded <img> has. */
async function distinctColours(page, selector) {
  return page.$eval(selector, async (img) => {
    if (!img.complete || img.naturalWidth === 0) {
      await new Promise((resolve, reject) => {
        img.addEventListener("load", resolve, { once: true });
        img.addEventListener("error", () => reject(new Error(`${img.src} did not load`)), { once: true });
      });
    }
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const seen = new Set();
    for (let i = 0; i < data.length; i += 4) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size;
  });
}

/** The outputs an `.attribution` section shows, as exact numbers. */
async function shownOutputs(page) {
  return page.$$eval("#result .attribution", (sections) =>
    sections.map((s) => ({
      output: s.dataset.output,
      instance: Number(s.dataset.instanceOutput),
      baseline: Number(s.dataset.baselineOutput),
      error: Number(s.dataset.approximationError),
      shownInstance: s.querySelector(".instance-output").textContent.trim(),
    })),
  );
}

function assertOutputsEqual(shown, apiExplanation) {
  assert.equal(shown.length, apiExplanation.attributions.length);
  apiExplanation.attributions.forEach((a, i) => {
    assert.equal(shown[i].output, (a.outputIndex || []).join("_") || "out");
    assert.equal(shown[i].instance, a.instanceOutputValue);
    assert.equal(shown[i].baseline, a.baselineOutputValue);
    assert.equal(shown[i].error, a.approximationError);
  });
}

test("models, endpoints and operations pages list what the API holds", async () => {
  const page = await newPage();
  const response = await page.goto(`${server.base}/ui`);
  assert.equal(response.status(), 200);
  assert.equal(new URL(page.url()).pathname, "/ui/models");
  const rows = await page.$$eval("tr.model", (trs) =>
    trs.map((tr) => ({
      name: tr.dataset.model,
      cells: Array.from(tr.querySelectorAll("td")).map((td) => td.innerText.trim().replace(/\s+/g, " ")),
    })),
  );
  assert.deepEqual(
    rows.map((r) => r.name),
    ["mlp", "digits", "sentiment", "digits-ex", "linear"].map((id) => `${PARENT}/models/${id}`),
  );
  const mlp = rows[0].cells;
  assert.equal(mlp[1], "Breast cancer MLP");
  assert.match(mlp[2], /^Sampled Shapley pathCount 10$/);
  assert.match(mlp[3], /features · numeric × 30/);
  assert.equal(mlp[4], "ep-mlp");
  assert.match(rows[1].cells[2], /^Integrated Gradients stepCount 50/);
  assert.match(rows[3].cells[2], /^Example-based/);
  assert.equal(rows[4].cells[4], "not deployed");
  // Markup in names is text.
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(await page.$("tr.model img"), null);
  assert.match(rows[4].cells[1], /<img src=x onerror="window.pwned=1"> & <b>co<\/b>/);
  await prism.screenshot(page, "models");

  await page.goto(`${server.base}/ui/endpoints`);
  const endpoints = await page.$$eval("section.endpoint", (ss) =>
    ss.map((s) => ({
      name: s.dataset.endpoint,
      deployed: Array.from(s.querySelectorAll("tr.deployed")).map((tr) => [tr.dataset.deployedModelId, tr.dataset.traffic]),
    })),
  );
  assert.deepEqual(endpoints, [
    { name: `${PARENT}/endpoints/ep-mlp`, deployed: [[deployed.mlp, "100"]] },
    { name: `${PARENT}/endpoints/ep-digits`, deployed: [[deployed.digits, "100"]] },
    { name: `${PARENT}/endpoints/ep-sentiment`, deployed: [[deployed.sentiment, "100"]] },
    { name: `${PARENT}/endpoints/ep-examples`, deployed: [[deployed.examples, "100"]] },
  ]);
  await prism.screenshot(page, "endpoints");

  await page.goto(`${server.base}/ui/operations`);
  const states = await page.$$eval("tr.operation", (trs) => trs.map((tr) => tr.dataset.state));
  // 5 uploads, 4 endpoints created, 4 deployments.
  assert.equal(states.length, 13);
  assert.ok(states.every((s) => s === "done"), states.join(","));
  await prism.screenshot(page, "operations");

  // An unknown page and an unknown model: an error page with the message, not a blank one.
  let r = await page.goto(`${server.base}/ui/nowhere`);
  assert.equal(r.status(), 404);
  assert.match(await page.textContent(".alert"), /there is no page \/ui\/nowhere/);
  r = await page.goto(modelUrl("missing"));
  assert.equal(r.status(), 404);
  assert.match(await page.textContent(".alert"), /model .*models\/missing not found/);
  assert.deepEqual(page.problems.filter((p) => !/404.*(\/ui\/nowhere|models\/missing)\)$/.test(p)), []);
});

test("tabular: the form's attributions are the API's, sorted by magnitude", async () => {
  const page = await newPage();
  await page.goto(modelUrl("mlp"));
  const fields = await page.$$("#fields [data-feature]");
  assert.equal(fields.length, 30);
  // The long list filters.
  await page.fill("#feature-filter", "radius");
  const visible = await page.$$eval(".field", (fs) => fs.filter((f) => !f.hidden).map((f) => f.dataset.label));
  assert.deepEqual(visible, ["mean radius", "radius error", "worst radius"]);
  await page.fill("#feature-filter", "");

  const instance = prism.instances("breast_cancer_mlp")[0];
  for (const [name, value] of Object.entries(instance)) {
    await page.fill(`[data-feature="${name}"]`, String(value));
  }
  await runExplain(page);
  const api = await prism.explain(server, "ep-mlp", deployed.mlp, instance);
  const expected = api.explanations[0];
  assertOutputsEqual(await shownOutputs(page), expected);

  const rows = await page.$$eval("#result tr.bar", (trs) =>
    trs.map((tr) => ({
      feature: tr.dataset.feature,
      attribution: Number(tr.dataset.attribution),
      value: tr.dataset.value,
      shown: tr.querySelector(".attr-value").textContent.trim(),
    })),
  );
  const apiAttributions = expected.attributions[0].featureAttributions;
  assert.equal(rows.length, 30);
  const byMagnitude = Object.entries(apiAttributions).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  assert.deepEqual(
    rows.map((r) => [r.feature, r.attribution]),
    byMagnitude,
  );
  for (const r of rows) {
    // Values as given; attributions rounded to 4 decimals (or 4 significant digits).
    assert.equal(Number(r.value), instance[r.feature], r.feature);
    assert.ok(Math.abs(Number(r.shown) - r.attribution) <= 5e-5 * Math.max(1, Math.abs(r.attribution)) + 5e-4 * Math.abs(r.attribution), `${r.feature}: ${r.shown} vs ${r.attribution}`);
  }
  // Sampled Shapley is exact in sum: prediction = baseline + sum of attributions.
  const a0 = expected.attributions[0];
  const sum = Object.values(apiAttributions).reduce((s, x) => s + x, 0);
  assert.ok(Math.abs(a0.baselineOutputValue + sum - a0.instanceOutputValue) < 1e-5);
  const warning = await page.$("#result .warning[role=alert]");
  assert.equal(warning !== null, a0.approximationError > 0.05);
  await prism.screenshot(page, "tabular-result");

  // A bad instance: the API's message in the page.
  await page.check('input[name="mode"][value="json"]');
  await page.fill("#instance-json", JSON.stringify({ "mean radius": "abc" }));
  await runExplain(page);
  const alert = await page.textContent("#result .alert");
  assert.match(alert, /400 INVALID_ARGUMENT/);
  assert.match(await page.textContent("#try-status"), /failed \(400\)/);
  await prism.screenshot(page, "tabular-error");
  assert.deepEqual(page.problems.filter((p) => !/status of 400 .*\/explain\)$/.test(p)), []);
});

test("images: an uploaded PNG is explained as the API explains it, and its heatmap is drawn", async () => {
  const page = await newPage();
  await page.goto(modelUrl("digits"));
  const pixels = prism.instances("digits_cnn")[0].image.flat(2).map((v) => Math.round(v * 255));
  const png = prism.greyPng(28, 28, pixels);
  await page.setInputFiles('[data-feature="image"]', { name: "digit.png", mimeType: "image/png", buffer: png });
  await runExplain(page);
  const api = await prism.explain(server, "ep-digits", deployed.digits, { image: { b64: png.toString("base64") } });
  const expected = api.explanations[0];
  assertOutputsEqual(await shownOutputs(page), expected);
  const apiSum = expected.attributions[0].featureAttributions.image.flat(3).reduce((s, x) => s + x, 0);
  const shownSum = Number(await page.getAttribute("#result .image-panel", "data-sum"));
  assert.ok(Math.abs(shownSum - apiSum) <= 1e-9 * Math.max(1, Math.abs(apiSum)), `${shownSum} vs ${apiSum}`);

  // The metadata's visualization is the starting point; the picture has drawn pixels.
  const controls = "#result form.heatmap-controls";
  assert.equal(await page.$eval(`${controls} select[name=polarity]`, (s) => s.value), "POSITIVE");
  assert.equal(await page.$eval(`${controls} select[name=overlay]`, (s) => s.value), "GRAYSCALE");
  assert.equal(await page.$eval(`${controls} input[name=clip_lo]`, (s) => s.value), "70");
  const before = await distinctColours(page, "#result img.heatmap");
  assert.ok(before > 2, `${before} colours`);
  assert.ok((await distinctColours(page, "#result img.input-image")) > 2);

  // Other options redraw it.
  const oldSrc = await page.getAttribute("#result img.heatmap", "src");
  await page.selectOption(`${controls} select[name=polarity]`, "BOTH");
  await page.selectOption(`${controls} select[name=overlay]`, "NONE");
  await page.fill(`${controls} input[name=clip_lo]`, "0");
  await page.dispatchEvent(`${controls} input[name=clip_lo]`, "change");
  await page.waitForFunction((old) => document.querySelector("#result img.heatmap").src !== old, oldSrc);
  const src = await page.getAttribute("#result img.heatmap", "src");
  assert.match(src, /polarity=BOTH/);
  assert.match(src, /overlay=NONE/);
  assert.match(src, /clip_lo=0/);
  const after = await distinctColours(page, "#result img.heatmap");
  assert.ok(after > 2, `${after} colours`);
  await prism.screenshot(page, "image-result");
  assert.equal(await page.textContent("#result .heatmap-status"), "");

  // A file of another size: the model takes it resized, and the picture is drawn over the
  // image as the model took it.
  const big = [];
  for (let y = 0; y < 56; y++) for (let x = 0; x < 56; x++) big.push(pixels[(y >> 1) * 28 + (x >> 1)]);
  const bigPng = prism.greyPng(56, 56, big);
  await page.setInputFiles('[data-feature="image"]', { name: "big.png", mimeType: "image/png", buffer: bigPng });
  await runExplain(page);
  assert.equal(await page.$("#result .alert"), null);
  const bigApi = await prism.explain(server, "ep-digits", deployed.digits, { image: { b64: bigPng.toString("base64") } });
  assertOutputsEqual(await shownOutputs(page), bigApi.explanations[0]);
  assert.ok((await distinctColours(page, "#result img.heatmap")) > 2);
  assert.equal(await page.$eval("#result img.input-image", (img) => img.naturalWidth), 28 * 8);

  // A redraw with a bad option is refused with a message.
  const bad = await page.request.get(`${server.base}${src.replace("polarity=BOTH", "polarity=SIDEWAYS")}`);
  assert.equal(bad.status(), 400);
  assert.match(await bad.text(), /polarity: unknown value SIDEWAYS/);
  assert.deepEqual(page.problems, []);
});

test("text: tokens are shaded with the API's attributions", async () => {
  const page = await newPage();
  await page.goto(modelUrl("sentiment"));
  const instance = prism.instances("text_sentiment")[0];
  await page.fill('[data-feature="tokens"]', instance.tokens.join(" "));
  await runExplain(page);
  const api = await prism.explain(server, "ep-sentiment", deployed.sentiment, instance);
  const expected = api.explanations[0];
  assertOutputsEqual(await shownOutputs(page), expected);
  const shown = JSON.parse(await page.getAttribute("#result .text-panel", "data-attributions"));
  assert.deepEqual(shown, expected.attributions[0].featureAttributions.tokens);
  assert.equal(await page.$$eval("#result .text-panel span.token", (s) => s.length), instance.tokens.length);
  await prism.screenshot(page, "text-result");
  assert.deepEqual(page.problems, []);
});

test("examples: the neighbours are the API's, with their distances", async () => {
  const page = await newPage();
  await page.goto(modelUrl("digits-ex"));
  const instance = prism.instances("digits_examples")[0];
  await page.check('input[name="mode"][value="json"]');
  await page.fill("#instance-json", JSON.stringify(instance));
  await runExplain(page);
  const api = await prism.explain(server, "ep-examples", deployed.examples, instance);
  const shown = await page.$$eval("#result tr.neighbor", (trs) =>
    trs.map((tr) => ({ neighborId: tr.dataset.neighborId, neighborDistance: Number(tr.dataset.distance) })),
  );
  assert.deepEqual(shown, api.explanations[0].neighbors);
  const expected = JSON.parse(fs.readFileSync(path.join(prism.modelDir("digits_examples"), "expected_neighbors.json"), "utf8"));
  assert.deepEqual(
    shown.map((n) => n.neighborId),
    expected.instances[0].neighbors.map((n) => n.id),
  );
  assert.equal(shown.length, 5);
  // The query image is shown beside them.
  assert.ok((await distinctColours(page, "#result img.query-image")) > 2);
  await prism.screenshot(page, "examples-result");
  assert.deepEqual(page.problems, []);
});

test("a model that is not deployed says so; markup in its names stays text", async () => {
  const page = await newPage();
  await page.goto(modelUrl("linear"));
  assert.match(await page.textContent(".notice"), /This model is not deployed/);
  assert.equal(await page.$("#try-form"), null);
  const h1 = await page.textContent("h1");
  assert.match(h1, /<img src=x onerror="window.pwned=1"> & <b>co<\/b>/);
  assert.equal(await page.$("h1 img, h1 b"), null);
  assert.match(await page.textContent(".facts"), /<script>window.pwned=2<\/script>/);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  await prism.screenshot(page, "not-deployed");
});

test("phone width: pages fit the screen", async () => {
  const page = await newPage({ width: 390, height: 844 });
  for (const url of [`${server.base}/ui/models`, modelUrl("mlp"), `${server.base}/ui/endpoints`, `${server.base}/ui/operations`]) {
    await page.goto(url);
    const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert.ok(scroll <= client, `${url}: ${scroll} > ${client}`);
  }
  await page.goto(modelUrl("mlp"));
  await prism.screenshot(page, "phone-model");
  // A result fits too (wide tables scroll inside their box).
  await page.check('input[name="mode"][value="json"]');
  await page.fill("#instance-json", JSON.stringify(prism.instances("breast_cancer_mlp")[1]));
  await runExplain(page);
  assert.equal(await page.$$eval("#result tr.bar", (trs) => trs.length), 30);
  const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(scroll <= client, `result: ${scroll} > ${client}`);
  await prism.screenshot(page, "phone-result");
  // Every form control has a label.
  const unlabelled = await page.$$eval("input:not([type=hidden]):not([type=radio]), select, textarea", (els) =>
    els.filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")).map((el) => el.outerHTML),
  );
  assert.deepEqual(unlabelled, []);
});

test("a protected server asks for a token and then works", async () => {
  const secured = await prism.startServer({ tokens: ["s3cret token"] });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const response = await page.goto(`${secured.base}/ui/endpoints`);
    assert.equal(response.status(), 401);
    assert.equal(await page.textContent("h1"), "Sign in");
    assert.ok(await page.$("label[for=token]"));

    await page.fill("#token", "wrong");
    await page.click("form.login button");
    await page.waitForSelector(".alert");
    assert.match(await page.textContent(".alert"), /not valid/);

    await page.fill("#token", "s3cret token");
    await page.click("form.login button");
    await page.waitForURL(`${secured.base}/ui/endpoints`);
    assert.equal(await page.textContent("h1"), "Endpoints");
    // Empty states.
    assert.match(await page.textContent(".empty"), /No endpoints yet/);
    await page.goto(`${secured.base}/ui/models`);
    assert.match(await page.textContent(".empty"), /No models yet/);
    await prism.screenshot(page, "empty-models");
    await page.goto(`${secured.base}/ui/operations`);
    assert.match(await page.textContent(".empty"), /No operations yet/);

    // The cookie opens the UI only: the REST API still wants the header.
    const api = await page.request.get(`${secured.base}/v1/${PARENT}/models`);
    assert.equal(api.status(), 401);
    const [status] = await secured.api("GET", `${PARENT}/models`);
    assert.equal(status, 200);

    // Signing out closes the UI again.
    await page.click("form.logout button");
    await page.waitForURL(`${secured.base}/ui/login`);
    const again = await page.goto(`${secured.base}/ui/models`);
    assert.equal(again.status(), 401);
    await context.close();
  } finally {
    await secured.stop();
  }
});

test("batch jobs: a job's progress, its counts as the API's, and its results download", async () => {
  const os = require("node:os");
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "prism-ui-batch-"));
  try {
    // Enough explained lines that the page usually sees the job run and reloads itself.
    const one = prism.instances("breast_cancer_mlp").map((i) => JSON.stringify(i));
    const lines = Array.from({ length: 40 }, () => one).flat();
    const input = path.join(work, "in.jsonl");
    fs.writeFileSync(input, lines.join("\n") + "\nnot json at all\n");
    const [status, job] = await server.api("POST", `${PARENT}/batchPredictionJobs`, {
      displayName: "ui batch",
      model: `${PARENT}/models/mlp`,
      inputConfig: { instancesFormat: "jsonl", gcsSource: { uris: [input] } },
      outputConfig: { predictionsFormat: "jsonl", gcsDestination: { outputUriPrefix: path.join(work, "out") } },
      manualBatchTuningParameters: { batchSize: 2 },
      generateExplanation: true,
    });
    assert.equal(status, 200, JSON.stringify(job));
    const id = job.name.split("/").pop();
    const page = await newPage();
    let loads = 0;
    page.on("load", () => loads++);
    await page.goto(`${server.base}/ui/batch-jobs`);
    const row = `#job-${id}`;
    const first = await page.getAttribute(row, "data-state");
    // The page reloads itself while the job runs.
    await page.waitForSelector(`${row}[data-state="JOB_STATE_SUCCEEDED"]`, { timeout: 60_000 });
    await page.waitForLoadState("load");
    assert.equal(await page.$("[data-auto-refresh]"), null);
    if (first !== "JOB_STATE_SUCCEEDED") assert.ok(loads >= 2, `seen ${first}, ${loads} loads`);
    const [, done] = await server.api("GET", job.name);
    assert.equal(done.state, "JOB_STATE_SUCCEEDED");
    const shown = async (cls) => (await page.textContent(`${row} td.${cls}`)).trim();
    assert.equal(await shown("successful"), done.completionStats.successfulCount);
    assert.equal(await shown("failed"), done.completionStats.failedCount);
    assert.equal(await shown("incomplete"), done.completionStats.incompleteCount);
    assert.equal(done.completionStats.successfulCount, String(lines.length));
    assert.equal(done.completionStats.failedCount, "1");
    assert.equal((await page.textContent(`${row} .badge`)).trim(), "succeeded");
    assert.equal((await page.textContent(`${row} .output-dir`)).trim(), done.outputInfo.gcsOutputDirectory);
    await prism.screenshot(page, "batch-jobs");
    const link = page.locator(`${row} a.file`, { hasText: "prediction.results-" });
    const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
    const saved = path.join(work, "results.jsonl");
    await download.saveAs(saved);
    const got = fs.readFileSync(saved, "utf8").split("\n").filter((l) => l.trim() !== "");
    assert.equal(got.length, lines.length);
    for (const l of got) {
      const r = JSON.parse(l);
      assert.ok("prediction" in r && "explanation" in r, l.slice(0, 200));
    }
    console.log(`batch jobs: first seen ${first}, ${loads} page loads`);
    assert.deepEqual(page.problems, []);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
