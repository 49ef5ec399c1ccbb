/**
 * The package's two entries: `@s2sauth/middleware` needs no Passport (an optional peer dependency),
 * and `@s2sauth/middleware/passport` is where `S2SBearerStrategy` lives. Checked on the import
 * graph of the sources, type imports included (they become the published `.d.ts` files).
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as main from '@s2sauth/middleware';
import * as passportEntry from '@s2sauth/middleware/passport';
import { EXPRESS_VERSIONS } from './express-versions.js';

const SOURCES = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
/** `import ... from 'x'`, `export ... from 'x'`, `import 'x'` and `import('x')`, type-only ones included. */
const SPECIFIER = /\b(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

const PASSPORT_MODULES = ['passport', 'passport-http-bearer', 'passport-strategy', '@types/passport', '@types/passport-http-bearer'];

/** Every module specifier reachable from `entry` through relative imports, with the file that names it. */
function reachableImports(entry: string): Map<string, string> {
  const found = new Map<string, string>();
  const seen = new Set<string>();
  const queue = [entry];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    for (const match of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      const specifier = match[1] ?? match[2] ?? match[3] ?? '';
      if (specifier.startsWith('.')) queue.push(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else found.set(specifier, file);
    }
  }
  return found;
}

describe('entry points', () => {
  it('the main entry reaches no Passport module, not even for types', () => {
    const imports = reachableImports(join(SOURCES, 'index.ts'));
    expect(imports.has('@s2sauth/protocol'), 'the walk follows the graph').to.equal(true);
    for (const name of PASSPORT_MODULES) expect(imports.get(name), name).to.equal(undefined);
  });

  it('the passport entry holds the strategy, which the main entry no longer exports', () => {
    expect(passportEntry.S2SBearerStrategy).to.be.a('function');
    expect(Object.keys(main)).not.to.include('S2SBearerStrategy');
    expect(main.s2sAuth).to.be.a('function');
    expect(reachableImports(join(SOURCES, 'passport.ts')).has('passport-http-bearer')).to.equal(true);
  });

  it('declares Passport an optional peer, and Express 4.21+ or 5 as the peer range', () => {
    const manifest = JSON.parse(readFileSync(join(SOURCES, '..', 'package.json'), 'utf8')) as {
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
      dependencies: Record<string, string>;
    };
    expect(manifest.peerDependenciesMeta['passport']?.optional).to.equal(true);
    expect(manifest.dependencies).not.to.have.property('passport');
    expect(manifest.peerDependencies['express']).to.equal('^4.21 || ^5.1');
  });

  it('runs the HTTP suites on a real Express 5 and a real Express 4.21 or later', () => {
    expect(EXPRESS_VERSIONS.map(({ moduleName, version }) => [moduleName, version.split('.')[0]])).to.deep.equal([
      ['express', '5'],
      ['express4', '4'],
    ]);
    const [five, four] = EXPRESS_VERSIONS;
    expect(five?.express).not.to.equal(four?.express);
    expect(Number(four?.version.split('.')[1])).to.be.at.least(21);
  });
});
