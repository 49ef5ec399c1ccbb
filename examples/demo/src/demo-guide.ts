/**
 * What `npm start` prints once the servers run: the URLs (and, in the cloud and hybrid scenarios,
 * the STS and the tenant), who trusts whom, the users and their password, and `curl` commands that
 * walk through the unified contact store, IM archiving, online meetings and realm discovery. The
 * commands are the same in every scenario: only the trust behind them differs. Each command stands
 * alone (its own line, no shell variables), so it can be pasted on its own; a cookie jar in the data folder carries the
 * sign-ins from one command to the next.
 */
import { isAbsolute, join, relative } from 'node:path';
import type { Scenario } from './demo-arguments.js';
import type { DemoPassword } from './demo-password.js';

/** What the guide shows. */
export interface DemoGuideInput {
  /** Default `onprem`. */
  readonly scenario?: Scenario;
  /** The authorization server of the cloud and hybrid scenarios and the tenant it issues for. */
  readonly sts?: { readonly url: string; readonly tenant: string };
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

const LYNC_SCOPES = 'contacts.read contacts.write archive.read archive.write';
const EXCHANGE_SCOPES = 'conferences.read conferences.write';

/** The title and the servers: where they run and whom each trusts, per scenario. */
function heading(input: DemoGuideInput, exchange: string, lync: string): string[] {
  const scenario = input.scenario ?? 'onprem';
  if (scenario === 'onprem' || input.sts === undefined) {
    return [
      's2sauth demo: on premises (realm contoso.com, SIP domains contoso.com and fabrikam.com)',
      '',
      `  Lync      ${lync}      trusts Exchange for ${EXCHANGE_SCOPES}`,
      `  Exchange  ${exchange}      trusts Lync for ${LYNC_SCOPES}`,
    ];
  }
  const { url: sts, tenant } = input.sts;
  const title =
    scenario === 'cloud'
      ? `s2sauth demo: cloud (tenant ${tenant}; every server-to-server token comes from the STS)`
      : `s2sauth demo: hybrid (Lync on premises in contoso.com, Exchange in tenant ${tenant}; tokens from the STS)`;
  const where = scenario === 'cloud' ? 'in the tenant' : 'on premises (realm contoso.com; its own certificate is its credential at the STS)';
  return [
    title,
    '',
    `  STS       ${sts}      issues tokens for tenant ${tenant}`,
    `            metadata ${sts}/${tenant}/metadata/json/1, token endpoint ${sts}/${tenant}/tokens/OAuth/2`,
    `  Lync      ${lync}      ${where}`,
    `            trusts the STS, and Exchange through it for ${EXCHANGE_SCOPES}`,
    `  Exchange  ${exchange}      in the tenant`,
    `            trusts the STS, and Lync through it for ${LYNC_SCOPES}`,
    "  Direct    none: neither server knows the other's keys or metadata; both ask the STS for tokens",
  ];
}

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
    ...heading(input, exchange, lync),
    `  Users     ${input.users.join(', ')}`,
    `  Password  ${password.password}  (${origin})`,
    ...(password.differsFromStored
      ? [`  Note      S2SAUTH_DEMO_PASSWORD differs from ${display(password.file, input.cwd)}: users created earlier keep that password.`]
      : []),
    ...(input.auditLog === undefined ? [] : [`  Audit     ${display(input.auditLog, input.cwd)} (every token accepted or refused${input.sts === undefined ? '' : ', and every token the STS issued or refused'})`]),
    '',
    'Try it (each command stands alone; the cookie jar keeps the sign-ins):',
    '',
    '# Unified contact store: alice signs in to Lync and adds Bob unless he is already her contact',
    '# (so running it again adds no second Bob); Lync stores the contact in Exchange.',
    login(lync),
    `${CURL} -b ${jar} ${lync}/me/contacts | grep -q '"email":"bob@contoso.com"' && echo 'Bob is already a contact.' || ${CURL} -b ${jar} ${JSON_BODY} '{"displayName":"Bob Brown","email":"bob@contoso.com","sip":"sip:bob@contoso.com"}' ${lync}/me/contacts`,
    '# ... and finds it in her Exchange mailbox.',
    login(exchange),
    `${CURL} -b ${jar} ${exchange}/me/contacts`,
    '',
    '# IM archiving: a new conversation with bob (saved for the next commands), a message, the end;',
    '# Lync archives the transcript in alice\'s Exchange mailbox as mail.',
    `curl -sS --fail-with-body -b ${jar} ${JSON_BODY} '{"subject":"Lunch?","participants":["bob@contoso.com"]}' -o ${saved} ${lync}/me/conversations && cat ${saved} && echo`,
    `${CURL} -b ${jar} ${JSON_BODY} '{"text":"Lunch at noon?"}' "${lync}/me/conversations/${conversation}/messages"`,
    `${CURL} -b ${jar} -X POST "${lync}/me/conversations/${conversation}/end"`,
    `${CURL} -b ${jar} ${exchange}/me/mail`,
    '',
    '# Online meetings: alice schedules one (a new one each time) from Exchange, which asks Lync for it with a',
    '# token on her behalf; its joinUrl shows the meeting.',
    `${CURL} -b ${jar} ${JSON_BODY} '{"subject":"Design review","attendees":["bob@contoso.com"]}' ${exchange}/me/meetings`,
    `${CURL} -b ${jar} ${lync}/me/conferences`,
    '',
    input.sts === undefined
      ? '# Realm discovery: an empty bearer token gets the 401 challenge (realm, client_id, trusted_issuers).'
      : '# Realm discovery: an empty bearer token gets the 401 challenge (realm, client_id, trusted_issuers with the STS, authorization_uri).',
    `curl -sS -i -H 'Authorization: Bearer ' ${exchange}/api/ucs/contacts`,
    '',
  ];
  return lines.join('\n');
}
