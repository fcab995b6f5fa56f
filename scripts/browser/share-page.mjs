// Opens a share link in headless Chromium as a person would: checks what the page shows,
// clicks the download button, and compares the downloaded bytes with the expected file.
//
//   node share-page.mjs URL EXPECTED_FILE NAME [SCREENSHOT.png]
//
// Exits non-zero with a reason on the first thing that is not as it should be.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";

const [url, expectedFile, name, screenshot] = process.argv.slice(2);
const expected = readFileSync(expectedFile);

function check(ok, what) {
  if (!ok) {
    console.error(`share-page.mjs: ${what}`);
    process.exit(1);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const context = await browser.newContext({
    acceptDownloads: true,
    viewport: { width: 390, height: 700 }, // a phone
  });
  const page = await context.newPage();
  const cspErrors = [];
  page.on("console", (m) => {
    if (m.type() === "error") cspErrors.push(m.text());
  });
  const res = await page.goto(url);
  check(res.status() === 200, `the page answered ${res.status()}`);
  check((await page.locator("h1").innerText()) === name, "the heading is the file's name");
  const facts = await page.locator("dl").innerText();
  check(facts.includes("Size") && facts.includes("Type"), `size and type shown: ${facts}`);
  // The stylesheet applied under the CSP: the button is a coloured box, not a plain link.
  const bg = await page
    .locator("#download")
    .evaluate((el) => getComputedStyle(el).backgroundColor);
  check(bg === "rgb(0, 97, 254)", `the page's style applied (button background ${bg})`);
  check(cspErrors.length === 0, `no CSP or console errors: ${cspErrors.join("; ")}`);
  // Readable on a phone: nothing wider than the screen.
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 390, `no horizontal scrolling on a phone (width ${width})`);
  if (screenshot) await page.screenshot({ path: screenshot });

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.locator("#download").click(),
  ]);
  const path = await download.path();
  const got = readFileSync(path);
  check(download.suggestedFilename() === name, `saved as ${download.suggestedFilename()}`);
  check(Buffer.compare(got, expected) === 0, `downloaded ${got.length} bytes, expected ${expected.length}`);
  console.log(`share page ok: ${name}, ${got.length} bytes downloaded through the button`);
} finally {
  await browser.close();
}
