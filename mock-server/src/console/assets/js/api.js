// Clients of the mock's public surfaces: the IAM token endpoint, the UKO API (/api/v4) and the mock's
// control plane (/__mock/v1). Nothing here knows more than any other HTTP client would.

const STORAGE_TOKEN = 'uko-mock-console.token';
const STORAGE_API_KEY = 'uko-mock-console.apikey';
const STORAGE_ADMIN_TOKEN = 'uko-mock-console.admin-token';

/** The API key uko-mock accepts unless started with another `--api-key`. */
export const DEFAULT_API_KEY = 'uko-mock-apikey';

// A console opened under /instances/{id}/ works on that isolated instance.
const instanceMatch = location.pathname.match(/^\/instances\/([A-Za-z0-9_-][A-Za-z0-9_.-]{0,63})(\/|$)/);
/** The instance this console addresses. */
export const INSTANCE_ID = instanceMatch ? instanceMatch[1] : 'default';
/** Base path of the UKO API for that instance. */
export const API_BASE = instanceMatch ? `/instances/${instanceMatch[1]}/api/v4` : '/api/v4';
/** Base path of the control plane for that instance. */
export const CONTROL_BASE = instanceMatch ? `/__mock/v1/instances/${instanceMatch[1]}` : '/__mock/v1';

/** A refused or failed request, with UKO's error message when the body had one. */
export class RequestError extends Error {
  constructor({ method, path, status, statusText, code, message, ifMatch }) {
    super(message);
    this.name = 'RequestError';
    this.method = method;
    this.path = path;
    this.status = status;
    this.statusText = statusText;
    this.code = code;
    this.ifMatch = ifMatch;
  }
}

/** Raised when no token can be had with the API key in use (wrong key, IAM refusing). */
export class SignInError extends RequestError {}

const session = {
  get token() { return sessionStorage.getItem(STORAGE_TOKEN); },
  set token(value) {
    if (value) sessionStorage.setItem(STORAGE_TOKEN, value);
    else sessionStorage.removeItem(STORAGE_TOKEN);
  },
};

const listeners = new Set();
/** Calls `listener(state)` whenever the sign-in state changes. */
export function onSessionChange(listener) { listeners.add(listener); }
function notify() { for (const listener of listeners) listener(sessionState()); }

/** What the header shows: signed in or not, and with which key. */
export function sessionState() {
  return { signedIn: Boolean(session.token), apiKey: apiKey(), adminToken: adminToken() };
}

/** The API key used to get tokens (sessionStorage, else the default). */
export function apiKey() { return sessionStorage.getItem(STORAGE_API_KEY) || DEFAULT_API_KEY; }

/** The control plane's admin token (needed only when uko-mock was started with `--admin-token`). */
export function adminToken() { return sessionStorage.getItem(STORAGE_ADMIN_TOKEN) || ''; }

/** Stores the connection settings and drops the current token. */
export function saveConnection({ apiKey: key, adminToken: admin }) {
  if (key && key !== DEFAULT_API_KEY) sessionStorage.setItem(STORAGE_API_KEY, key);
  else sessionStorage.removeItem(STORAGE_API_KEY);
  if (admin) sessionStorage.setItem(STORAGE_ADMIN_TOKEN, admin);
  else sessionStorage.removeItem(STORAGE_ADMIN_TOKEN);
  session.token = null;
  notify();
}

/** Forgets the token. */
export function signOut() {
  session.token = null;
  notify();
}

let signingIn = null;

/**
 * Exchanges the API key for an access token at `POST /identity/token`, as IBM's SDK authenticators do,
 * and keeps it in sessionStorage.
 */
export function signIn(key = apiKey()) {
  if (!signingIn) {
    signingIn = (async () => {
      const form = new URLSearchParams({ grant_type: 'urn:ibm:params:oauth:grant-type:apikey', apikey: key });
      let response;
      try {
        response = await fetch('/identity/token', {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
          body: form,
        });
      } catch {
        throw unreachable('POST', '/identity/token', SignInError);
      }
      const body = await readJson(response);
      if (!response.ok || !body?.access_token) {
        const message = body?.errorMessage || `The IAM endpoint answered ${response.status} ${response.statusText}`;
        throw new SignInError({
          method: 'POST', path: '/identity/token', status: response.status, statusText: response.statusText,
          code: body?.errorCode, message,
        });
      }
      session.token = body.access_token;
      notify();
      return body.access_token;
    })().finally(() => { signingIn = null; });
  }
  return signingIn;
}

/**
 * One UKO API call. `path` is relative to /api/v4 (may carry a query). Returns `{status, etag, body}`;
 * throws a RequestError carrying `errors[0].message` for any status ≥ 400.
 */
export async function uko(method, path, { query, ifMatch, body } = {}) {
  const url = withQuery(API_BASE + path, query);
  if (!session.token) await signIn();
  let response = await send(method, url, ifMatch, body);
  if (response.status === 401) {
    // The token expired or the server restarted: get a new one once.
    session.token = null;
    await signIn();
    response = await send(method, url, ifMatch, body);
  }
  return finish(method, url, response, ifMatch);

  async function send(verb, target, match, payload) {
    const headers = { Accept: 'application/json', Authorization: `Bearer ${session.token}` };
    if (match) headers['If-Match'] = match;
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    try {
      return await fetch(target, {
        method: verb, headers, body: payload === undefined ? undefined : JSON.stringify(payload), cache: 'no-store',
      });
    } catch {
      throw unreachable(verb, target);
    }
  }
}

/** Every page of a UKO list (following `next`), up to `max` items. */
export async function ukoAll(path, itemsName, { query = {}, max = 5000 } = {}) {
  const items = [];
  let offset = 0;
  for (;;) {
    const { body } = await uko('GET', path, { query: { ...query, limit: 1000, offset } });
    items.push(...(body[itemsName] || []));
    if (!body.next || items.length >= max) return items;
    offset = Number(new URL(body.next.href, location.href).searchParams.get('offset'));
  }
}

/**
 * One control-plane call. `path` is relative to /__mock/v1 for this instance. `body` is sent as JSON
 * unless `rawBody` (text) is given.
 */
export async function control(method, path, { query, body, rawBody } = {}) {
  const url = withQuery(CONTROL_BASE + path, query);
  const headers = { Accept: 'application/json' };
  const admin = adminToken();
  if (admin) headers['X-Admin-Token'] = admin;
  let payload;
  if (rawBody !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = rawBody;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body: payload, cache: 'no-store' });
  } catch {
    throw unreachable(method, url);
  }
  return finish(method, url, response);
}

async function finish(method, url, response, ifMatch) {
  const body = response.status === 204 ? null : await readJson(response);
  if (response.ok) return { status: response.status, etag: response.headers.get('ETag'), body };
  const first = body?.errors?.[0];
  let message = first?.message;
  if (response.status === 404 && url.startsWith('/__mock/') && (!message || message.includes('does not exist in UKO API'))) {
    message = `This uko-mock has no control endpoint ${url.split('?')[0]} (is it an older version?)`;
  }
  throw new RequestError({
    method, path: url, status: response.status, statusText: response.statusText || '',
    code: first?.code, message: message || `The server answered ${response.status} ${response.statusText || ''}`.trim(),
    ifMatch,
  });
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function unreachable(method, path, Kind = RequestError) {
  return new Kind({
    method, path, status: 0, statusText: 'no answer',
    message: 'uko-mock did not answer. Is it still running? Reload the page once it is back.',
  });
}

function withQuery(path, query) {
  if (!query) return path;
  const params = query instanceof URLSearchParams ? query : new URLSearchParams(
    Object.entries(query).filter(([, value]) => value !== undefined && value !== null && value !== ''),
  );
  const text = params.toString();
  if (!text) return path;
  return path + (path.includes('?') ? '&' : '?') + text;
}
