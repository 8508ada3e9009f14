// Lighthouse on a list of pages, one after the other, in one chromium.
//
//   node tests/browser/lighthouse.mjs <pages.json> <reports folder>
//
// pages.json: [{"name", "url", "headers": {...} | null, "accessibilityOnly": bool,
// "runs": n}]. Each run writes <reports>/<name>-<run>.report.json, the first run
// its .report.html too (what `lighthouse --output=json --output=html` writes).
// Run by .ci/lighthouse, which judges the scores.
//
// One browser for every audit: a chromium and a node started per audit cost
// more than many of the audits themselves. Lighthouse still clears the
// origin's storage and the browser's caches before each page load, and the
// settings are the command line's defaults (mobile preset, simulated
// throttling), so a shared browser scores as a fresh one does.

import fs from 'node:fs';
import path from 'node:path';

import lighthouse from 'lighthouse';
import * as chromeLauncher from 'chrome-launcher';

const [pagesFile, reports] = process.argv.slice(2);
if (!pagesFile || !reports) {
  console.error('usage: node lighthouse.mjs <pages.json> <reports folder>');
  process.exit(2);
}
// Accessibility alone judges the loaded document, not how fast it became
// quiet: the waits that let performance settle (a second after first paint,
// after load, of network and of CPU quiet) only add four seconds per page.
const ACCESSIBILITY_ONLY = {
  extends: 'lighthouse:default',
  settings: {
    onlyCategories: ['accessibility'],
    pauseAfterFcpMs: 0,
    pauseAfterLoadMs: 0,
    networkQuietThresholdMs: 0,
    cpuQuietThresholdMs: 0,
  },
};
const pages = JSON.parse(fs.readFileSync(pagesFile, 'utf8'));
fs.mkdirSync(reports, { recursive: true });

const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROME_PATH || '/usr/bin/chromium',
  chromeFlags: ['--headless=new', '--no-sandbox'],
});
let failed = false;
try {
  for (const page of pages) {
    for (let run = 1; run <= page.runs; run++) {
      const outputs = run === 1 ? ['json', 'html'] : ['json'];
      const flags = {
        port: chrome.port,
        logLevel: 'error',
        output: outputs,
        ...(page.headers ? { extraHeaders: page.headers } : {}),
      };
      const started = Date.now();
      const result = await lighthouse(page.url, flags, page.accessibilityOnly ? ACCESSIBILITY_ONLY : undefined);
      if (!result || result.lhr.runtimeError) {
        const why = result ? `${result.lhr.runtimeError.code}: ${result.lhr.runtimeError.message}` : 'no result';
        console.error(`lighthouse: ${page.url}: ${why}`);
        failed = true;
        continue;
      }
      outputs.forEach((kind, i) => {
        fs.writeFileSync(path.join(reports, `${page.name}-${run}.report.${kind}`), result.report[i]);
      });
      console.log(`${page.name} run ${run}: ${Date.now() - started} ms`);
    }
  }
} finally {
  await chrome.kill();
}
process.exit(failed ? 1 : 0);
