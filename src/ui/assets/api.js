// The page's only door to hookd: the public JSON API under /api, same origin.
//
// Two ways to be signed in:
// - an admin API key, kept in sessionStorage (this tab only, gone when it closes) and sent
//   as `Authorization: Bearer`;
// - a session opened by a portal link: an HttpOnly cookie the page cannot read, which hookd
//   accepts only together with the header `X-Hookd-Session: 1`.

const KEY_STORAGE = 'hookd.apiKey';

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

let mode = null; // 'key' | 'session' | null
let memoryKey = null; // the key, also when sessionStorage refuses it
let onUnauthorized = null;

function storedKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export const auth = {
  storedKey,
  mode: () => mode,
  useKey(key) {
    try {
      sessionStorage.setItem(KEY_STORAGE, key);
    } catch {
      // Storage refused (private mode quotas): the key lives in memory for this page only.
    }
    memoryKey = key;
    mode = 'key';
  },
  useSession() {
    mode = 'session';
  },
  clear() {
    try {
      sessionStorage.removeItem(KEY_STORAGE);
    } catch {
      // Nothing stored.
    }
    memoryKey = null;
    mode = null;
  },
};

/** Called with the error when a signed-in call answers 401 (session ended, key revoked). */
export function setUnauthorizedHandler(f) {
  onUnauthorized = f;
}

/**
 * `method` `path` (under /api) with an optional JSON body. Resolves to the parsed JSON (null
 * for 204); rejects with an ApiError carrying the API's own code, message and field.
 * `opts.as` forces a mode ('key' with `opts.key`, or 'session'); `opts.quiet` skips the
 * 401 handler.
 */
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const as = opts.as || mode;
  if (as === 'key') {
    headers.Authorization = `Bearer ${opts.key || memoryKey || storedKey() || ''}`;
  } else {
    headers['X-Hookd-Session'] = '1';
  }
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(`/api${path}`, init);
  } catch {
    throw new ApiError(0, 'network', 'hookd could not be reached. Check the connection and try again.');
  }
  if (resp.status === 204) return null;
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const e = data && data.error ? data.error : {};
    const err = new ApiError(
      resp.status,
      e.code || `http_${resp.status}`,
      e.message || `hookd answered ${resp.status} ${resp.statusText}`.trim(),
      e.field,
    );
    if (resp.status === 401 && !opts.quiet && onUnauthorized) onUnauthorized(err);
    throw err;
  }
  return data;
}

/** Every page of a list route (`{data, next_cursor}`), concatenated. */
export async function listAll(path, max = 5000) {
  const out = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', `${path}${sep}limit=250${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    out.push(...(page.data || []));
    cursor = page.next_cursor;
  } while (cursor && out.length < max);
  return out;
}
