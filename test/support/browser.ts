import { execFileSync } from 'node:child_process';
import puppeteer, { type Browser } from 'puppeteer-core';

/** Debian's chromium (`.ci/run` installs it), or the one CHROMIUM_PATH names. */
function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim();
    } catch {
      // not this one
    }
  }
  throw new Error('No Chromium found: install Debian\'s "chromium" package (.ci/run does) or set CHROMIUM_PATH');
}

/** A real headless Chromium; every test run gets a fresh profile, so no cookie outlives it. */
export function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Root in a container has no user namespace for the sandbox.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
  });
}
