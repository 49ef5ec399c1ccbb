/**
 * Checks that the project's own documentation cannot drift from the repository: every relative
 * link of README.md, docs/*.md, the package and example READMEs (the demo manual among them) and
 * the benchmarks' README names a file that exists (and, for a Markdown file, a heading
 * that exists), and the code tables of docs/troubleshooting.md list exactly the codes the sources
 * define, in both directions.
 *
 * The sources are searched by what they declare (a type's name, the STS's `reject(...)` calls),
 * not by file, so that moving code between files does not break this test; adding a code does,
 * until it is documented.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bearerError, FAILURE_CODES, type FailureCode } from '@s2sauth/protocol';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The Markdown files whose links are checked. */
async function documents(): Promise<string[]> {
  const docs = (await readdir(join(root, 'docs'))).filter((name) => name.endsWith('.md')).map((name) => join(root, 'docs', name));
  const readmes: string[] = [];
  for (const top of ['packages', 'examples']) {
    readmes.push(...(await readdir(join(root, top))).map((name) => join(root, top, name, 'README.md')).filter((file) => existsSync(file)));
  }
  return [join(root, 'README.md'), ...docs, ...readmes, join(root, 'bench', 'README.md')];
}

/** Markdown without fenced code blocks and inline code spans, where `[x](y)` is not a link. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** The anchors GitHub gives the headings of `markdown` (lower case, punctuation dropped, spaces as `-`, repeats numbered). */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, text = ''] of markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6}\s+(.*?)\s*#*\s*$/gm)) {
    const plain = text.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/`/g, '');
    const slug = plain.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Every `[text](target)` of the prose that is not an absolute URL. */
function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map((match) => match[1] as string)
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/** All TypeScript sources of the packages and examples, by path. */
async function sources(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const top of ['packages', 'examples']) {
    for (const entry of await readdir(join(root, top), { recursive: true, withFileTypes: true })) {
      const path = join(entry.parentPath, entry.name);
      if (!entry.isFile() || !path.endsWith('.ts') || !path.includes(`${join('', 'src', '')}`) || path.includes('node_modules')) continue;
      files.set(relative(root, path), await readFile(path, 'utf8'));
    }
  }
  return files;
}

/** TypeScript source without its comments (which may hold quotes and semicolons). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');
}

/** The string members of `export type <name> = 'a' | 'b' ...;`, wherever it is declared. */
function unionMembers(files: ReadonlyMap<string, string>, name: string): string[] {
  const declarations = [...files.values()].flatMap((text) => {
    const match = new RegExp(`export type ${name} =([\\s\\S]*?);`).exec(withoutComments(text));
    return match?.[1] === undefined ? [] : [match[1]];
  });
  expect(declarations, `one declaration of ${name}`).to.have.length(1);
  const members = [...(declarations[0] as string).matchAll(/'([a-z0-9_]+)'/g)].map((match) => match[1] as string);
  expect(members, `members of ${name}`).to.not.be.empty;
  return members;
}

/** The cells of each row of the first table after `marker`, without its header and separator rows. */
function tableAfter(markdown: string, marker: string): string[][] {
  const at = markdown.indexOf(marker);
  expect(at, `a "${marker}" table`).to.be.at.least(0);
  const lines = markdown.slice(at + marker.length).split('\n').map((line) => line.trim());
  const start = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(' | ').map((cell) => cell.trim()));
  }
  return rows;
}

/** The rows of the table that follows `<!-- codes: <name> -->`: the code of the first cell, and the other cells. */
function documentedCodes(markdown: string, name: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const [first = '', ...rest] of tableAfter(markdown, `<!-- codes: ${name} -->`)) {
    const code = /^`([a-z0-9_]+)`$/.exec(first)?.[1];
    expect(code, `the first cell "${first}" is one code`).to.be.a('string');
    expect(rows.has(code as string), `${code} is listed once in the ${name} table`).to.equal(false);
    rows.set(code as string, rest);
  }
  return rows;
}

describe('documentation', () => {
  describe('links', () => {
    it('every relative link of README.md, docs/*.md, packages/*/README.md, examples/*/README.md and bench/README.md names an existing file and heading', async () => {
      const broken: string[] = [];
      let checked = 0;
      for (const file of await documents()) {
        const markdown = await readFile(file, 'utf8');
        for (const target of relativeLinks(markdown)) {
          checked += 1;
          const [path = '', anchor] = target.split('#');
          const linked = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
          const where = `${relative(root, file)}: ${target}`;
          if (!existsSync(linked)) {
            broken.push(`${where} (no such file)`);
            continue;
          }
          if (anchor !== undefined && linked.endsWith('.md') && !anchorsOf(await readFile(linked, 'utf8')).has(anchor)) {
            broken.push(`${where} (no such heading)`);
          }
        }
      }
      expect(checked, 'links found').to.be.above(10);
      expect(broken).to.deep.equal([]);
    });

    it('checks the package READMEs, the demo manual and the benchmarks\' README too', async () => {
      const checked = (await documents()).map((file) => relative(root, file));
      expect(checked).to.include.members(['examples/demo/README.md', 'bench/README.md', 'examples/lync/README.md', 'packages/protocol/README.md', 'packages/cli/README.md']);
    });

    it('the README links both documentation pages', async () => {
      const links = relativeLinks(await readFile(join(root, 'README.md'), 'utf8'));
      expect(links).to.include.members(['docs/protocol.md', 'docs/troubleshooting.md']);
    });

    it('names headings as GitHub does (code and links as text, punctuation dropped, repeats numbered)', () => {
      const anchors = anchorsOf('# A `code`, and [a link](x.md)\n## 3.3 Step, by step\n## 3.3 Step, by step\n```\n# not a heading\n```\n');
      expect([...anchors]).to.deep.equal(['a-code-and-a-link', '33-step-by-step', '33-step-by-step-1']);
    });
  });

  describe('protocol.md', () => {
    it('states for every failure class the status, error, description and diagnostic the code sends', async () => {
      const rows = tableAfter(await readFile(join(root, 'docs', 'protocol.md'), 'utf8'), '<!-- classes -->');
      const classes = new Set(Object.values(FAILURE_CODES));
      expect(rows.map(([name]) => name).sort()).to.deep.equal([...classes].sort());
      for (const [name = '', status, error, description, diagnostic = ''] of rows) {
        const code = (Object.keys(FAILURE_CODES) as FailureCode[]).find((candidate) => FAILURE_CODES[candidate] === name) as FailureCode;
        const failure = bearerError(code, 'documentation');
        expect(status, name).to.equal(String(failure.status));
        expect(error, name).to.equal(failure.error === undefined ? '(none)' : `\`${failure.error}\``);
        expect(description, name).to.equal(failure.description);
        const d = failure.diagnostic;
        if (d === undefined) expect(diagnostic, name).to.not.match(/^`\d/);
        else expect(diagnostic, name).to.equal(`\`${d.code};reason="${d.reason}";error_category="${d.category}"\``);
      }
    });
  });

  describe('troubleshooting codes', () => {
    let page: string;
    let files: Map<string, string>;

    before(async () => {
      page = await readFile(join(root, 'docs', 'troubleshooting.md'), 'utf8');
      files = await sources();
    });

    it('lists every verifier failure code with its status, and no other', () => {
      const rows = documentedCodes(page, 'verifier');
      expect([...rows.keys()].sort()).to.deep.equal(Object.keys(FAILURE_CODES).sort());
      for (const [code, [status]] of rows) {
        expect(status, code).to.equal(String(bearerError(code as FailureCode, 'documentation').status));
      }
    });

    it('lists every reason the STS audits with the error it answers, and no other', () => {
      const expected = new Map<string, string>();
      for (const text of files.values()) {
        // reject('<error>', '<reason>' ...) or reject('<error>', condition ? '<reason>' : '<reason>' ...)
        for (const [, error = '', reasons = ''] of text.matchAll(/\breject\('([a-z_]+)', ([^,)]*)/g)) {
          for (const [, reason = ''] of reasons.matchAll(/'([a-z_]+)'/g)) expected.set(reason, `\`${error}\``);
        }
        for (const [, error = '', reason = ''] of text.matchAll(/decision: 'reject', error: '([a-z_]+)', reason: '([a-z_]+)'/g)) {
          expected.set(reason, `\`${error}\``);
        }
        for (const [, reason = ''] of text.matchAll(/decision: 'issue', reason: '([a-z_]+)'/g)) expected.set(reason, '(200)');
      }
      // Assertion failures are audited by their ClientAssertionError code, and answered invalid_client.
      for (const code of unionMembers(files, 'ClientAssertionErrorCode')) expected.set(code, '`invalid_client`');
      expect(expected.size, 'reasons found in the sources').to.be.above(40);
      const rows = documentedCodes(page, 'sts');
      expect([...rows.keys()].sort()).to.deep.equal([...expected.keys()].sort());
      for (const [reason, [error]] of rows) expect(error, reason).to.equal(expected.get(reason));
    });

    it('lists every STS error code with its status, and no other', () => {
      const rows = documentedCodes(page, 'sts-error');
      expect([...rows.keys()].sort()).to.deep.equal(unionMembers(files, 'StsErrorCode').sort());
      const table = [...files.values()].map((text) => /const ERROR_STATUS[^{]*\{([^}]*)\}/.exec(text)?.[1]).find((body) => body !== undefined);
      expect(table, 'the STS status table').to.be.a('string');
      const statuses = new Map([...(table as string).matchAll(/([a-z_]+): (\d{3})/g)].map((match) => [match[1], match[2]]));
      for (const [code, [status]] of rows) expect(status, code).to.equal(statuses.get(code));
    });

    const unions = {
      's2s-client': 'S2SClientErrorCode',
      'sts-client': 'StsTokenErrorCode',
      'metadata-fetch': 'MetadataFetchErrorCode',
      metadata: 'MetadataErrorCode',
      registry: 'PartnerRegistryErrorCode',
      store: 'StoreErrorCode',
      certificate: 'CertificateErrorCode',
    } as const;
    for (const [table, union] of Object.entries(unions)) {
      it(`lists every ${union}, and no other`, () => {
        expect([...documentedCodes(page, table).keys()].sort()).to.deep.equal(unionMembers(files, union).sort());
      });
    }
  });
});
