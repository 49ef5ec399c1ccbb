/**
 * Reading the certificate files given with `--certificate`: PEM (one or several `CERTIFICATE`
 * blocks, such as a chain), base64 DER, or binary DER. Whether each one is an acceptable signing
 * certificate is for the registry (partners) or the client checks (STS clients) to say; what is
 * decided here is only how a file's content becomes certificate text, and that it is a
 * certificate at all. A file holding a private key is refused outright, any other file that is not
 * a certificate as not a PEM certificate, and no message ever quotes a file's content.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CliError, firstLine } from './context.js';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const BASE64_TEXT = /^[A-Za-z0-9+/=\s]+$/;

/**
 * The certificates in the files at `paths`, in order, each as PEM or standard base64 DER text.
 * @throws CliError when a file cannot be read, holds a private key, or holds no certificate (is
 *   not a PEM certificate, nor a DER one in base64 or binary).
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
  if (text.includes('PRIVATE KEY')) throw privateKey(path);
  if (text.includes('-----BEGIN')) {
    const blocks = text.match(PEM_BLOCK);
    if (blocks === null) throw new CliError(`${path} holds no PEM CERTIFICATE block`);
    return blocks.map((block) => `${block.replace(/\r\n/g, '\n')}\n`);
  }
  const trimmed = text.trim();
  if (trimmed === '') throw new CliError(`${path} is empty`);
  const base64 = BASE64_TEXT.test(trimmed) ? trimmed.replace(/\s+/g, '') : undefined;
  // Binary: DER as it is written by `openssl x509 -outform der`.
  const der = base64 === undefined ? content : Buffer.from(base64, 'base64');
  if (!isCertificateDer(der)) {
    if (isPrivateKeyDer(der)) throw privateKey(path);
    throw new CliError(`${path} is not a PEM certificate: give a file with a -----BEGIN CERTIFICATE----- block (or one DER certificate, binary or base64)`);
  }
  return [base64 ?? content.toString('base64')];
}

function privateKey(path: string): CliError {
  return new CliError(`${path} contains a private key: give a file with the certificate only (the registry never holds private keys)`);
}

/** Whether `der` is exactly one DER X.509 certificate (whether it is acceptable is the registry's to say). */
function isCertificateDer(der: Buffer): boolean {
  try {
    return new X509Certificate(der).raw.equals(der);
  } catch {
    return false;
  }
}

/** Whether `der` is a private key in DER (PKCS#8, PKCS#1 or SEC1). */
function isPrivateKeyDer(der: Buffer): boolean {
  return (['pkcs8', 'pkcs1', 'sec1'] as const).some((type) => {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return true;
    } catch {
      return false;
    }
  });
}
