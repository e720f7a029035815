// The admin JSON API (README.md, "Admin HTTP API"). The browser authenticates with the HttpOnly session
// cookie set by POST /api/login; POSTs carry `content-type: application/json`, which the hub requires as
// its CSRF guard.

/** An error answer of the API: `code` is the hub's error code (e.g. `BAD_ADMIN_TOKEN`). */
export class ApiError extends Error {
  constructor(status, code, message, data) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.data = data;
  }
}

/** Calls the API; resolves with the parsed JSON answer or rejects with an {@link ApiError}. */
export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (method !== 'GET') {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'NETWORK', `The hub did not answer (${error.message}). Is it running?`);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): reported below with the status.
  }
  if (!res.ok) {
    const err = json?.error;
    throw new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? `${method} ${path} answered ${res.status}`, err?.data);
  }
  return json;
}

/** `CODE: message` for showing an error. */
export function errorText(error) {
  return error instanceof ApiError ? `${error.code}: ${error.message}` : String(error?.message ?? error);
}
