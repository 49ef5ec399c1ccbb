// The last good metadata document of each key source (key-document.ts), in both stores: what is
// kept, which fetch wins, that it survives reopening a SQLite file, and that it is not a registry
// change.
import { expect } from 'chai';
import { afterEach, beforeEach, describe, it } from 'mocha';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { isKeyDocumentStore, MemoryStore, SqliteStore, StoreError, type KeyDocument, type KeyDocumentStore, type RegistryEntryKind } from '@s2sauth/store';

const URL_A = 'https://mail.contoso.com/metadata/json/1';
const T = Date.UTC(2030, 0, 15, 12, 0, 0);

function documentOf(text: string, fetchedAt: number, source: { metadataUrl?: string; allowLoopback?: boolean } = {}): KeyDocument {
  return { metadataUrl: source.metadataUrl ?? URL_A, allowLoopback: source.allowLoopback ?? false, document: Buffer.from(text), fetchedAt };
}

type Opened = KeyDocumentStore & { onChange: MemoryStore['onChange']; close(): void };

function behaviour(name: string, open: () => Opened): void {
  describe(name, () => {
    let store: Opened;
    let changes: Array<[string | undefined, RegistryEntryKind | undefined]>;

    beforeEach(() => {
      store = open();
      changes = [];
      store.onChange((identity, kind) => changes.push([identity, kind]));
    });

    afterEach(() => store.close());

    it('is a KeyDocumentStore', () => {
      expect(isKeyDocumentStore(store)).to.equal(true);
      expect(isKeyDocumentStore({})).to.equal(false);
      expect(isKeyDocumentStore(null)).to.equal(false);
    });

    it('keeps the document of a source byte for byte with its fetch time, separately per URL and allowLoopback', () => {
      const bytes = Buffer.from([0x7b, 0x22, 0xc3, 0xa9, 0x22, 0x7d, 0x00, 0xff]);
      store.putKeyDocument({ metadataUrl: URL_A, allowLoopback: false, document: bytes, fetchedAt: T + 0.7 });
      store.putKeyDocument(documentOf('loopback', T + 5, { allowLoopback: true }));
      const stored = store.getKeyDocument({ metadataUrl: URL_A, allowLoopback: false });
      expect(stored).to.deep.equal({ metadataUrl: URL_A, allowLoopback: false, document: bytes, fetchedAt: T });
      expect(Object.isFrozen(stored)).to.equal(true);
      expect(Buffer.from(store.getKeyDocument({ metadataUrl: URL_A, allowLoopback: true })?.document ?? []).toString()).to.equal('loopback');
      expect(store.getKeyDocument({ metadataUrl: `${URL_A}/other`, allowLoopback: false })).to.equal(undefined);
    });

    it('copies the bytes it is given, so a later change of the caller\'s buffer changes nothing stored', () => {
      const bytes = Buffer.from('original');
      store.putKeyDocument({ ...documentOf('', T), document: bytes });
      bytes.write('XXXXXXXX');
      expect(Buffer.from(store.getKeyDocument({ metadataUrl: URL_A, allowLoopback: false })?.document ?? []).toString()).to.equal('original');
    });

    it('keeps the later fetch when an older one is stored after it (two verifiers sharing a store)', () => {
      store.putKeyDocument(documentOf('newer', T + 1000));
      store.putKeyDocument(documentOf('older', T));
      expect(Buffer.from(store.getKeyDocument({ metadataUrl: URL_A, allowLoopback: false })?.document ?? []).toString()).to.equal('newer');
      store.putKeyDocument(documentOf('newest', T + 2000));
      expect(store.getKeyDocument({ metadataUrl: URL_A, allowLoopback: false })).to.include({ fetchedAt: T + 2000 });
    });

    it('replaces a document stamped far in the future (by a clock that was ahead) with a real later fetch', () => {
      store.putKeyDocument(documentOf('from a clock a year ahead', T + 365 * 24 * 3600 * 1000));
      store.putKeyDocument(documentOf('fetched now', T));
      expect(store.getKeyDocument({ metadataUrl: URL_A, allowLoopback: false })).to.include({ fetchedAt: T });
      // A racing fetch a few seconds later still wins over one a few seconds earlier.
      store.putKeyDocument(documentOf('raced', T + 5000));
      store.putKeyDocument(documentOf('fetched now, written late', T + 1000));
      expect(store.getKeyDocument({ metadataUrl: URL_A, allowLoopback: false })).to.include({ fetchedAt: T + 5000 });
    });

    it('removes the documents fetched before a time, and only those', () => {
      store.putKeyDocument(documentOf('old', T - 1));
      store.putKeyDocument(documentOf('edge', T, { metadataUrl: `${URL_A}/edge` }));
      expect(store.removeKeyDocumentsFetchedBefore(T)).to.equal(1);
      expect(store.getKeyDocument({ metadataUrl: URL_A, allowLoopback: false })).to.equal(undefined);
      expect(store.getKeyDocument({ metadataUrl: `${URL_A}/edge`, allowLoopback: false })).to.include({ fetchedAt: T });
      expect(store.removeKeyDocumentsFetchedBefore(T)).to.equal(0);
    });

    it('notifies no change listener: a stored document is not a registry change', () => {
      store.putKeyDocument(documentOf('x', T));
      store.removeKeyDocumentsFetchedBefore(T + 1);
      expect(changes).to.deep.equal([]);
    });

    for (const [what, record, message] of [
      ['no URL', { ...documentOf('x', T), metadataUrl: '' }, /metadataUrl must be a non-empty string/],
      ['allowLoopback not a boolean', { ...documentOf('x', T), allowLoopback: 1 }, /allowLoopback must be a boolean/],
      ['an empty document', { ...documentOf('x', T), document: Buffer.alloc(0) }, /document must be a non-empty Uint8Array/],
      ['a document that is text', { ...documentOf('x', T), document: '{"keys":[]}' }, /document must be a non-empty Uint8Array/],
      ['a time that is not a number', { ...documentOf('x', T), fetchedAt: Number.NaN }, /fetchedAt must be a finite number/],
    ] as const) {
      it(`refuses ${what} with a TypeError and stores nothing`, () => {
        expect(() => store.putKeyDocument(record as unknown as KeyDocument)).to.throw(TypeError, message);
        expect(store.getKeyDocument({ metadataUrl: URL_A, allowLoopback: false })).to.equal(undefined);
      });
    }

    it('refuses every key document operation once closed', () => {
      store.close();
      for (const operation of [
        () => store.getKeyDocument({ metadataUrl: URL_A, allowLoopback: false }),
        () => store.putKeyDocument(documentOf('x', T)),
        () => store.removeKeyDocumentsFetchedBefore(T),
      ]) {
        expect(operation).to.throw(StoreError, /closed/).with.property('code', 'closed');
      }
    });
  });
}

describe('key documents', () => {
  behaviour('MemoryStore', () => new MemoryStore());
  behaviour('SqliteStore', () => SqliteStore.open(':memory:'));

  describe('SqliteStore file', () => {
    let folder: string;
    beforeEach(() => {
      folder = mkdtempSync(join(tmpdir(), 's2sauth-key-documents-'));
    });
    afterEach(() => rmSync(folder, { recursive: true, force: true }));

    it('keeps documents across reopening the file, without moving the registry change counter', () => {
      const path = join(folder, 'registry.sqlite');
      const first = SqliteStore.open(path);
      const raw = new Database(path, { readonly: true });
      const counter = () => raw.prepare('SELECT version FROM registry_version').pluck().get();
      const before = counter();
      first.putKeyDocument(documentOf('{"keys":[]}', T));
      expect(counter()).to.equal(before);
      first.close();
      raw.close();
      const second = SqliteStore.open(path);
      try {
        expect(second.getKeyDocument({ metadataUrl: URL_A, allowLoopback: false })).to.deep.equal(documentOf('{"keys":[]}', T));
      } finally {
        second.close();
      }
    });

    it('reports a row edited into nonsense as corrupt, naming the file', () => {
      const path = join(folder, 'registry.sqlite');
      SqliteStore.open(path).close();
      const raw = new Database(path);
      raw.prepare(`INSERT INTO key_documents VALUES (?, 0, x'', ?)`).run(URL_A, T);
      raw.close();
      const store = SqliteStore.open(path);
      try {
        expect(() => store.getKeyDocument({ metadataUrl: URL_A, allowLoopback: false }))
          .to.throw(StoreError, /corrupt row in ".*registry\.sqlite"/)
          .with.property('code', 'corrupt');
      } finally {
        store.close();
      }
    });
  });
});
