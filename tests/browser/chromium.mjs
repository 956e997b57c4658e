// Headless Chromium as every browser test starts it, and the log of what
// goes wrong on a page: console lines, page errors, HTTP errors.
import { chromium } from 'playwright-core';

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
}

// An array that fills with `page`'s troubles as they happen; `url` shortens
// the URLs of failed responses.
export function pageLog(page, url = (u) => u) {
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  page.on('response', (r) => { if (r.status() >= 400) logs.push(`http ${r.status()} ${url(r.url())}`); });
  return logs;
}
