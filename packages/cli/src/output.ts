/**
 * How records are shown: tables and `name: value` summaries for people, plain JSON views for
 * `--json`. A certificate is only ever shown as its thumbprints, subject and validity: never its
 * text, and the registry holds no private keys to show.
 */
import { X509Certificate } from 'node:crypto';
import { x5t, x5tS256 } from '@s2sauth/protocol';

/** A certificate as the command line shows it. */
export type CertificateSummary =
  | {
      /** SHA-1 thumbprint, base64url (the `x5t` of tokens and metadata documents). */
      readonly x5t: string;
      /** SHA-256 thumbprint, base64url (the `x5t#S256` of an STS actor's `cnf`). */
      readonly x5tS256: string;
      readonly subject: string;
      /** ISO 8601. */
      readonly notBefore: string;
      /** ISO 8601. */
      readonly notAfter: string;
    }
  | {
      /** The stored text is not a certificate this command can read. */
      readonly unreadable: true;
    };

/** Thumbprints, subject and validity of a stored certificate (PEM or standard base64 DER). */
export function summarizeCertificate(text: string): CertificateSummary {
  try {
    const certificate = new X509Certificate(text.includes('-----BEGIN') ? text : Buffer.from(text, 'base64'));
    return {
      x5t: x5t(certificate.raw),
      x5tS256: x5tS256(certificate.raw),
      subject: certificate.subject.replace(/\n/g, ', '),
      notBefore: new Date(certificate.validFrom).toISOString(),
      notAfter: new Date(certificate.validTo).toISOString(),
    };
  } catch {
    return { unreadable: true };
  }
}

/** `certificate (N): x5t A, x5t B` in one line, for tables and summaries. */
export function describeCertificates(certificates: readonly string[]): string {
  const thumbprints = certificates.map((text) => {
    const summary = summarizeCertificate(text);
    return 'unreadable' in summary ? 'unreadable' : `x5t ${summary.x5t}`;
  });
  return `certificate (${certificates.length})${thumbprints.length === 0 ? '' : `: ${thumbprints.join(', ')}`}`;
}

/** The lines describing each certificate, for a record's summary. */
export function certificateLines(certificates: readonly string[]): string[] {
  return certificates.map((text) => {
    const summary = summarizeCertificate(text);
    if ('unreadable' in summary) return 'unreadable certificate';
    return `x5t ${summary.x5t} (${summary.subject}, valid ${summary.notBefore} to ${summary.notAfter})`;
  });
}

/** A time in ms since the epoch as ISO 8601. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** `yes` or `no`. */
export function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}

/** A list for people: the items separated by spaces, or `(none)`. */
export function listText(items: readonly string[]): string {
  return items.length === 0 ? '(none)' : items.join(' ');
}

/**
 * `rows` as a table with `headers`, columns padded to their widest cell; `empty` when there
 * are no rows.
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], empty: string): string {
  if (rows.length === 0) return `${empty}\n`;
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/**
 * `name: value` lines, the values aligned; a value of several lines continues under the first.
 * Entries whose value is `undefined` are left out.
 */
export function details(entries: readonly (readonly [string, string | readonly string[] | undefined])[]): string {
  const shown = entries.filter((entry): entry is readonly [string, string | readonly string[]] => entry[1] !== undefined);
  const width = Math.max(...shown.map(([name]) => name.length)) + 2;
  const lines: string[] = [];
  for (const [name, value] of shown) {
    const values = typeof value === 'string' ? [value] : value.length === 0 ? ['(none)'] : value;
    values.forEach((text, index) => lines.push(`${index === 0 ? `${name}:`.padEnd(width) : ' '.repeat(width)}${text}`));
  }
  return `${lines.join('\n')}\n`;
}
