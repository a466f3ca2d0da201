// Opens each version's reference page of the portal bundle from disk
// (file://) in headless Chromium and checks that it shows every operation
// of that version, by operationId. Any request that is not for a file of
// the bundle fails the check.
// Usage: node .ci/bundle-check.cjs BUNDLE_DIR ARTIFACT_DIR
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const [bundle, artifacts] = process.argv.slice(2).map((p) => path.resolve(p));

function operationIds(version) {
  const spec = JSON.parse(fs.readFileSync(path.join(bundle, version, "openapi.json"), "utf8"));
  const ids = [];
  for (const item of Object.values(spec.paths)) {
    for (const operation of Object.values(item)) {
      if (operation && operation.operationId) ids.push(operation.operationId);
    }
  }
  return ids.sort();
}

async function expectOperations(page, version, expected) {
  const deadline = Date.now() + 20000;
  let seen = [];
  while (Date.now() < deadline) {
    seen = (await page.locator(".opblock-summary-operation-id").allTextContents())
      .map((id) => id.trim())
      .sort();
    if (JSON.stringify(seen) === JSON.stringify(expected)) return;
    await page.waitForTimeout(200);
  }
  throw new Error(`${version}: the page shows ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}`);
}

(async () => {
  const versions = fs
    .readdirSync(bundle)
    .filter((name) => /^v[0-9]+$/.test(name))
    .sort();
  if (versions.length === 0) throw new Error(`no versions in ${bundle}`);
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--allow-file-access-from-files",
    ],
  });
  const foreign = [];
  const failed = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(`file://${bundle}/`) || url.startsWith("data:")) return route.continue();
      foreign.push(url);
      return route.abort();
    });
    page.on("requestfailed", (request) => failed.push(request.url()));
    page.on("pageerror", (error) => failed.push(`script error: ${error.message}`));
    for (const version of versions) {
      await page.goto(`file://${bundle}/${version}/index.html`, { waitUntil: "load" });
      await expectOperations(page, version, operationIds(version));
      await page.screenshot({ path: `${artifacts}/bundle-${version}.png`, fullPage: false });
    }
    if (foreign.length) throw new Error(`the pages asked for more than the bundle: ${foreign.join(", ")}`);
    if (failed.length) throw new Error(`requests or scripts failed: ${failed.join(", ")}`);
    console.log(`portal bundle: ${versions.join(", ")} shown from disk; screenshots in ${artifacts}`);
  } finally {
    await browser.close();
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
