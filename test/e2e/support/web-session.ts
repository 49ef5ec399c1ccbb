/**
 * A person using a demo server through its web routes: JSON requests with the session cookie the
 * server set at sign-in, the way a browser would carry it. Nothing here ever holds a token.
 */

/** A server's answer: status, parsed JSON body (or the text when it is not JSON) and headers. */
export interface WebAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

/** Sends one JSON request to `baseUrl + path`. */
export async function send(baseUrl: string, method: string, path: string, body?: unknown, headers: Readonly<Record<string, string>> = {}): Promise<WebAnswer> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // Not JSON: the text is the body.
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** A signed-in person of one server. */
export class WebSession {
  readonly baseUrl: string;
  readonly username: string;
  readonly #cookie: string;

  private constructor(baseUrl: string, username: string, cookie: string) {
    this.baseUrl = baseUrl;
    this.username = username;
    this.#cookie = cookie;
  }

  /** `POST /login` with the user name and password; throws when the server does not answer 200 with a cookie. */
  static async signIn(baseUrl: string, username: string, password: string): Promise<WebSession> {
    const answer = await send(baseUrl, 'POST', '/login', { username, password });
    const cookie = answer.headers.getSetCookie()[0]?.split(';')[0];
    if (answer.status !== 200 || cookie === undefined) {
      throw new Error(`signing ${username} in to ${baseUrl} failed: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    return new WebSession(baseUrl, username, cookie);
  }

  request(method: string, path: string, body?: unknown): Promise<WebAnswer> {
    return send(this.baseUrl, method, path, body, { cookie: this.#cookie });
  }

  get(path: string): Promise<WebAnswer> {
    return this.request('GET', path);
  }

  post(path: string, body?: unknown): Promise<WebAnswer> {
    return this.request('POST', path, body ?? {});
  }
}
