/**
 * The admin console's own pages: plain HTML, no script, no asset from anywhere, so they work on a
 * machine without internet and under the console's Content-Security-Policy.
 */
import type { Response } from 'express';

/**
 * Every console page and Bull Board's: only this origin's scripts, no plugin, no framing, forms
 * posting only here. Inline styles stay allowed for Bull Board's React UI and its loading screen.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function setConsoleHeaders(res: Response): void {
  res.set({
    'Content-Security-Policy': CONSOLE_CSP,
    'X-Content-Type-Options': 'nosniff',
    // not no-referrer: under it Chromium sends `Origin: null` on the console's own form posts, which the CSRF check refuses.
    'Referrer-Policy': 'same-origin',
    'X-Frame-Options': 'DENY',
  });
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

const STYLE = `body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2433;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;padding:2rem 2.5rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12);width:22rem}
h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin:.8rem 0 .3rem;font-size:.9rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;border:1px solid #b8bfcc;border-radius:4px}
button{margin-top:1.2rem;padding:.55rem 1.2rem;font:inherit;border:0;border-radius:4px;background:#2f5bd3;color:#fff;cursor:pointer}
.problem{background:#fdecec;color:#8a1c1c;padding:.6rem .8rem;border-radius:4px;font-size:.9rem}p{line-height:1.4}`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>${escapeHtml(title)} · ArtStore admin</title><style>${STYLE}</style></head>
<body><main>${body}</main></body>
</html>
`;
}

/** The login form: an admin service account's client id and secret. `next` is where to go after it. */
export function loginPage(options: { next: string; problem?: string; clientId?: string }): string {
  const problem = options.problem ? `<p class="problem" role="alert">${escapeHtml(options.problem)}</p>` : '';
  return page(
    'Log in',
    `<h1>ArtStore admin console</h1>${problem}
<form method="post" action="/admin/login">
<input type="hidden" name="next" value="${escapeHtml(options.next)}">
<label for="client_id">Client id</label><input id="client_id" name="client_id" autocomplete="username" required value="${escapeHtml(options.clientId ?? '')}">
<label for="client_secret">Client secret</label><input id="client_secret" name="client_secret" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button>
</form>`,
  );
}

export function forbiddenPage(reason: string): string {
  return page(
    'Not allowed',
    `<h1>Not allowed</h1><p>${escapeHtml(reason)}</p><p>The admin console is for service accounts with the <strong>admin</strong> role.</p>
<p><a href="/admin/login">Log in with another account</a></p>`,
  );
}

export function logoutPage(): string {
  return page('Log out', `<h1>Log out</h1><form method="post" action="/admin/logout"><button type="submit">Log out of the admin console</button></form>`);
}

export function loggedOutPage(): string {
  return page('Logged out', `<h1>Logged out</h1><p>Your admin console session has ended.</p><p><a href="/admin/login">Log in again</a></p>`);
}

/** A refusal the browser shows as a page: a change that did not come from the console's own pages. */
export function refusedPage(reason: string): string {
  return page('Refused', `<h1>Refused</h1><p>${escapeHtml(reason)}</p><p><a href="/admin/queues">Back to the queues</a></p>`);
}
