/**
 * Reading the certificate files given with `--certificate`: PEM (one or several `CERTIFICATE`
 * blocks, such as a chain), base64 DER, or binary DER. Whether each one is an acceptable signing
 * certificate is for the registry (partners) or the client checks (STS clients) to say; what is
 * decided here is only how a file's content becomes certificate text. A file holding a private
 * key is refused outright, and no message ever quotes a file's content.
 */
import { readFileSync } from 'node:fs';
import { CliError, firstLine } from './context.js';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const BASE64_TEXT = /^[A-Za-z0-9+/=\s]+$/;

/**
 * The certificates in the files at `paths`, in order, each as PEM or standard base64 DER text.
 * @throws CliError when a file cannot be read, holds a private key, or holds no certificate.
 */
export function readCertificateFiles(paths: readonly string[]): string[] {
  return paths.flatMap((path) => readCertificateFile(path));
}

function readCertificateFile(path: string): string[] {
  let content: Buffer;
  try {
    content = readFileSync(path);
  } catch (error) {
    throw new CliError(`cannot read the certificate file ${path}: ${firstLine(error)}`);
  }
  const text = content.toString('latin1');
  if (text.includes('PRIVATE KEY')) {
    throw new CliError(`${path} contains a private key: give a file with the certificate only (the registry never holds private keys)`);
  }
  if (text.includes('-----BEGIN')) {
    const blocks = text.match(PEM_BLOCK);
    if (blocks === null) throw new CliError(`${path} holds no PEM CERTIFICATE block`);
    return blocks.map((block) => `${block.replace(/\r\n/g, '\n')}\n`);
  }
  const trimmed = text.trim();
  if (trimmed === '') throw new CliError(`${path} is empty`);
  if (BASE64_TEXT.test(trimmed)) return [trimmed.replace(/\s+/g, '')];
  // Binary: DER as it is written by `openssl x509 -outform der`.
  return [content.toString('base64')];
}
