/** A signed-in user of a Lync server in tests: fetch with the session cookie kept. */
export interface SignedInUser {
  readonly cookie: string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown; headers: Headers }>;
}

/** Calls `url` + `path` with JSON and no session. */
export async function call(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** Signs in and returns a session-carrying caller. */
export async function signIn(url: string, username: string, password: string): Promise<SignedInUser> {
  const response = await call(url, 'POST', '/login', { username, password });
  if (response.status !== 200) throw new Error(`sign-in of ${username} failed with ${response.status}`);
  const setCookie = response.headers.get('set-cookie') ?? '';
  const cookie = setCookie.split(';')[0] as string;
  return {
    cookie,
    call: (method, path, body) => call(url, method, path, body, { cookie }),
  };
}
