/**
 * What `npm start` prints once the pair runs: the URLs, the users and their password, and `curl`
 * commands that walk through each on-premises scenario. Each command stands alone (its own line,
 * no shell variables), so it can be pasted on its own; a cookie jar in the data folder carries the
 * sign-ins from one command to the next.
 */
import { isAbsolute, join, relative } from 'node:path';
import type { DemoPassword } from './demo-password.js';

/** What the guide shows. */
export interface DemoGuideInput {
  readonly lyncUrl: string;
  readonly exchangeUrl: string;
  readonly users: readonly string[];
  readonly password: DemoPassword;
  /** The scenario folder (absolute): the cookie jar and the saved conversation go here. */
  readonly scenarioDir: string;
  /** The audit log file (absolute), when the audit goes to one. */
  readonly auditLog?: string;
  /** The directory the reader's shell is in: paths under it are printed relative to it. */
  readonly cwd: string;
}

/** A path as a shell word: bare when it has only safe characters, else single-quoted. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/** `path` relative to `cwd` when it is inside it, else absolute. */
function display(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/** The `curl` options every JSON call shares: quiet, errors shown, non-2xx fails, a newline after the body. */
const CURL = `curl -sS --fail-with-body -w '\\n'`;
const JSON_BODY = `-H 'Content-Type: application/json' -d`;

/** The guide, as lines of text (comments start with `#`, commands with `curl`). */
export function demoGuide(input: DemoGuideInput): string {
  const { lyncUrl: lync, exchangeUrl: exchange, password } = input;
  const jar = shellQuote(display(join(input.scenarioDir, 'cookies.txt'), input.cwd));
  const saved = shellQuote(display(join(input.scenarioDir, 'conversation.json'), input.cwd));
  const conversation = `$(sed -n 's/^{"id":"\\([^"]*\\)".*/\\1/p' ${saved})`;
  const login = (url: string): string =>
    `${CURL} -c ${jar} -b ${jar} --data-urlencode 'username=alice@contoso.com' --data-urlencode ${shellQuote(`password=${password.password}`)} ${url}/login`;
  const origin = {
    environment: `from ${'S2SAUTH_DEMO_PASSWORD'}`,
    generated: `generated on this first start, kept in ${display(password.file, input.cwd)}`,
    stored: `generated on the first start, kept in ${display(password.file, input.cwd)}`,
  }[password.source];

  const lines = [
    's2sauth demo: on premises (realm contoso.com, SIP domains contoso.com and fabrikam.com)',
    '',
    `  Lync      ${lync}      trusts Exchange for conferences.read conferences.write`,
    `  Exchange  ${exchange}      trusts Lync for contacts.read contacts.write archive.read archive.write`,
    `  Users     ${input.users.join(', ')}`,
    `  Password  ${password.password}  (${origin})`,
    ...(password.differsFromStored
      ? [`  Note      S2SAUTH_DEMO_PASSWORD differs from ${display(password.file, input.cwd)}: users created earlier keep that password.`]
      : []),
    ...(input.auditLog === undefined ? [] : [`  Audit     ${display(input.auditLog, input.cwd)} (every token accepted or refused)`]),
    '',
    'Try it (each command stands alone; the cookie jar keeps the sign-ins):',
    '',
    '# Unified contact store: alice signs in to Lync and adds Bob; Lync stores the contact in Exchange.',
    login(lync),
    `${CURL} -b ${jar} ${JSON_BODY} '{"displayName":"Bob Brown","email":"bob@contoso.com","sip":"sip:bob@contoso.com"}' ${lync}/me/contacts`,
    '# ... and finds it in her Exchange mailbox.',
    login(exchange),
    `${CURL} -b ${jar} ${exchange}/me/contacts`,
    '',
    '# IM archiving: a conversation with bob (saved for the next commands), a message, the end;',
    '# Lync archives the transcript in alice\'s Exchange mailbox as mail.',
    `curl -sS --fail-with-body -b ${jar} ${JSON_BODY} '{"subject":"Lunch?","participants":["bob@contoso.com"]}' -o ${saved} ${lync}/me/conversations && cat ${saved} && echo`,
    `${CURL} -b ${jar} ${JSON_BODY} '{"text":"Lunch at noon?"}' "${lync}/me/conversations/${conversation}/messages"`,
    `${CURL} -b ${jar} -X POST "${lync}/me/conversations/${conversation}/end"`,
    `${CURL} -b ${jar} ${exchange}/me/mail`,
    '',
    '# Online meetings: alice schedules one from Exchange, which asks Lync for it with a token on her behalf.',
    `${CURL} -b ${jar} ${JSON_BODY} '{"subject":"Design review","attendees":["bob@contoso.com"]}' ${exchange}/me/meetings`,
    `${CURL} -b ${jar} ${lync}/me/conferences`,
    '',
    '# Realm discovery: an empty bearer token gets the 401 challenge (realm, client_id, trusted_issuers).',
    `curl -sS -i -H 'Authorization: Bearer ' ${exchange}/api/ucs/contacts`,
    '',
  ];
  return lines.join('\n');
}
