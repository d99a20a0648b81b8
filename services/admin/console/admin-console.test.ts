import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'puppeteer-core';
import type { RunningService } from '../../platform/runtime.ts';
import { launchBrowser } from '../../../test/support/browser.ts';
import { auditJobs } from '../../../test/support/audit-jobs.ts';
import { isolatedPrefix, TEST_SECRETS, testConfig } from '../../../test/support/infra.ts';
import { accountWithToken, adminToken } from '../../../test/support/tokens.ts';
import { start } from '../app.ts';

const ADMIN_ID = TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID;
const ADMIN_SECRET = TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET;

describe('Admin console in a real Chromium: login, Bull Board, logout', function () {
  this.timeout(120_000);
  let admin: RunningService;
  let browser: Browser;
  let prefix: string;
  let bearer: string;
  let jobs: ReturnType<typeof auditJobs>;

  before(async () => {
    prefix = isolatedPrefix('console');
    // development: the longest environment name, so the title check covers the widest title.
    admin = await start(testConfig('admin', { BULLMQ_PREFIX: prefix, ENVIRONMENT: 'development' }));
    bearer = await adminToken(admin.url);
    jobs = auditJobs(prefix);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await jobs?.close();
    await admin?.stop();
  });

  /** A fresh browser profile (no cookies) whose every request is listed. */
  async function freshPage(): Promise<{ page: Page; requests: string[]; close(): Promise<void> }> {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    return { page, requests, close: () => context.close() };
  }

  const bodyText = (page: Page) => page.evaluate('document.body.innerText') as Promise<string>;

  async function logIn(page: Page, clientId: string, secret: string) {
    await page.goto(`${admin.url}/admin/login`);
    await page.type('#client_id', clientId);
    await page.type('#client_secret', secret);
    const [response] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    return response;
  }

  it('when an admin logs in through the form, then Bull Board shows the audit-events queue, loads nothing from off the host, and its title fits', async () => {
    const { page, requests, close } = await freshPage();
    try {
      await page.goto(`${admin.url}/admin/queues`);
      assert.match(page.url(), /\/admin\/login\?next=%2Fadmin%2Fqueues$/, 'an anonymous browser is sent to the login form');
      await logIn(page, ADMIN_ID, ADMIN_SECRET);
      assert.equal(new URL(page.url()).pathname, '/admin/queues');
      await page.waitForFunction("document.body.innerText.includes('audit-events')", { timeout: 15_000 });

      const cookies = await page.browserContext().cookies();
      const session = cookies.find((cookie) => cookie.name === 'artstore_admin');
      assert.ok(session, 'a session cookie was set');
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Strict');
      assert.equal(session.path, '/admin');

      const own = new URL(admin.url).host;
      const offHost = requests.filter((url) => !url.startsWith('data:') && new URL(url).host !== own);
      assert.deepEqual(offHost, [], 'every request the page made stayed on the admin host');
      const csp = (await page.goto(`${admin.url}/admin/queues`))?.headers()['content-security-policy'] ?? '';
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      await page.waitForFunction("document.body.innerText.includes('audit-events')", { timeout: 15_000 });

      const title = 'ArtStore · development';
      // The leaf elements showing the title, and whether any of them is narrower than its text.
      const cut = await page.evaluate(`(() => {
        const holders = [...document.querySelectorAll('body *')].filter((el) => el.children.length === 0 && el.textContent.trim() === ${JSON.stringify(title)});
        return holders.length === 0 ? 'missing' : holders.some((el) => el.scrollWidth > el.clientWidth + 1) ? 'cut' : 'fits';
      })()`);
      assert.equal(cut, 'fits', `the sidebar title "${title}" is shown whole`);

      // The board's own calls from its page (same origin) may change a manageable queue.
      const paused = await page.evaluate(async () => (await fetch('/admin/queues/api/queues/maintenance/pause', { method: 'PUT' })).status);
      assert.equal(paused, 200);
      const resumed = await page.evaluate(async () => (await fetch('/admin/queues/api/queues/maintenance/resume', { method: 'PUT' })).status);
      assert.equal(resumed, 200);

      const login = await jobs.waitFor((event) => event.event_type === 'auth_success' && event.action === 'admin_login');
      assert.equal(login.details?.client_id, ADMIN_ID);
      assert.equal(login.resource_type, 'admin_session');
      const change = await jobs.waitFor((event) => event.event_type === 'queue_changed' && event.action === 'pause');
      assert.equal(change.service_account_id, login.service_account_id, 'a change made in the browser names the admin who made it');
    } finally {
      await close();
    }
  });

  it('when a reader logs in, then it gets a readable 403 page and no session; an API client asking the board gets JSON', async () => {
    const reader = await accountWithToken(admin.url, bearer, 'reader');
    const { page, close } = await freshPage();
    try {
      const response = await logIn(page, reader.service_account.client_id, reader.client_secret);
      assert.equal(response?.status(), 403);
      assert.match(response?.headers()['content-type'] ?? '', /text\/html/);
      assert.match(await bodyText(page), /Not allowed[\s\S]*role "reader"/);
      assert.deepEqual(
        (await page.browserContext().cookies()).filter((c) => c.name === 'artstore_admin'),
        [],
      );
      const denied = await jobs.waitFor((event) => event.event_type === 'authorization_denied' && event.action === 'admin_login');
      assert.equal(denied.details?.client_id, reader.service_account.client_id);

      const asPage = await fetch(`${admin.url}/admin/queues`, { headers: { Authorization: `Bearer ${reader.token}`, Accept: 'text/html' } });
      assert.equal(asPage.status, 403);
      assert.match(await asPage.text(), /<h1>Not allowed<\/h1>/);
      const asApi = await fetch(`${admin.url}/admin/queues/api/queues`, { headers: { Authorization: `Bearer ${reader.token}`, Accept: 'application/json' } });
      assert.equal(asApi.status, 403);
      assert.equal(((await asApi.json()) as { error: { code: string } }).error.code, 'forbidden');
    } finally {
      await close();
    }
  });

  it('when the admin logs out, then the session is over: its cookie no longer opens the board, even replayed by hand', async () => {
    const { page, close } = await freshPage();
    try {
      await logIn(page, ADMIN_ID, ADMIN_SECRET);
      const session = (await page.browserContext().cookies()).find((cookie) => cookie.name === 'artstore_admin')!;
      await page.goto(`${admin.url}/admin/logout`);
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      assert.match(await bodyText(page), /Logged out/);
      await jobs.waitFor((event) => event.event_type === 'session_ended' && event.action === 'admin_logout');

      await page.goto(`${admin.url}/admin/queues`);
      assert.match(page.url(), /\/admin\/login/, 'the browser is asked to log in again');
      const replayed = await fetch(`${admin.url}/admin/queues/api/queues`, { headers: { Cookie: `artstore_admin=${session.value}` } });
      assert.equal(replayed.status, 401);
      assert.equal(((await replayed.json()) as { error: { code: string } }).error.code, 'session_required');
    } finally {
      await close();
    }
  });

  it('when another site posts a form to a Bull Board action with the admin logged in, then it is refused and nothing is added', async () => {
    const { page, close } = await freshPage();
    // Another origin of the same site (same host, another port): SameSite=Strict still sends the cookie, so the Origin check must stop it.
    const target = `${admin.url}/admin/queues/api/queues/maintenance/add`;
    const attacker: Server = createServer((_req, res) => {
      res.setHeader('Content-Type', 'text/html');
      res.end(`<form id="f" method="post" action="${target}"><input name="name" value="csrf-probe"><input name="data" value="x"></form>
<script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    try {
      await logIn(page, ADMIN_ID, ADMIN_SECRET);
      await page.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
      // The attacker's page submits itself: wait until the browser shows the answer to the forged post.
      await page.waitForFunction(`location.href === ${JSON.stringify(target)} && document.readyState === 'complete'`);
      assert.match(await bodyText(page), /Refused/);

      const maintenance = (await fetch(`${admin.url}/admin/queues/api/queues?activeQueue=maintenance&status=waiting`, {
        headers: { Authorization: `Bearer ${bearer}` },
      }).then((res) => res.json())) as { queues: { name: string; jobs: { name: string }[] }[] };
      const names = maintenance.queues.find((queue) => queue.name === 'maintenance')?.jobs.map((job) => job.name) ?? [];
      assert.ok(!names.includes('csrf-probe'), 'no job was added');
      const refused = await fetch(target, {
        method: 'POST',
        headers: { Cookie: (await page.browserContext().cookies()).map((c) => `${c.name}=${c.value}`).join('; '), 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'csrf-probe' }),
      });
      assert.equal(refused.status, 403, 'a session change with no Origin at all is refused too');
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'cross_site_request');
    } finally {
      attacker.close();
      await close();
    }
  });
});
