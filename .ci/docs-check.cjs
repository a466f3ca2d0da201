// Loads /docs in headless Chromium and checks that Swagger UI shows every
// operation of v2, then of v1 (picked in the spec selector), by operationId.
// Any request to a host other than the server fails the check.
// Usage: node .ci/docs-check.cjs BASE_URL ARTIFACT_DIR
const { chromium } = require("playwright-core");

const [base, artifacts] = process.argv.slice(2);

async function operationIds(version) {
  const response = await fetch(`${base}/openapi/${version}.json`);
  const spec = await response.json();
  const ids = [];
  for (const item of Object.values(spec.paths)) {
    for (const operation of Object.values(item)) {
      if (operation && operation.operationId) ids.push(operation.operationId);
    }
  }
  return ids.sort();
}

async function shown(page) {
  return (await page.locator(".opblock-summary-operation-id").allTextContents())
    .map((id) => id.trim())
    .sort();
}

async function expectOperations(page, version, expected) {
  const deadline = Date.now() + 20000;
  let seen = [];
  while (Date.now() < deadline) {
    seen = await shown(page);
    if (JSON.stringify(seen) === JSON.stringify(expected)) return;
    await page.waitForTimeout(200);
  }
  throw new Error(`${version}: the page shows ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}`);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const foreign = [];
  const failed = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    page.on("request", (request) => {
      if (!request.url().startsWith(base) && !request.url().startsWith("data:")) {
        foreign.push(request.url());
      }
    });
    page.on("requestfailed", (request) => failed.push(request.url()));
    page.on("pageerror", (error) => failed.push(`script error: ${error.message}`));

    await page.goto(`${base}/docs/`, { waitUntil: "networkidle" });
    await expectOperations(page, "v2", await operationIds("v2"));
    await page.screenshot({ path: `${artifacts}/docs-v2.png`, fullPage: false });

    await page.selectOption("#select", { label: "v1 (deprecated)" });
    await expectOperations(page, "v1", await operationIds("v1"));
    await page.screenshot({ path: `${artifacts}/docs-v1.png`, fullPage: false });

    if (foreign.length) throw new Error(`the page asked other hosts: ${foreign.join(", ")}`);
    if (failed.length) throw new Error(`requests or scripts failed: ${failed.join(", ")}`);
    console.log(`docs portal: v2 and v1 operations shown; screenshots in ${artifacts}`);
  } finally {
    await browser.close();
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
