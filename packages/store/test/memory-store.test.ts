import { expect } from 'chai';
import { MemoryStore } from '@s2sauth/store';
import { exchange, storeBehaviour } from './store-behaviour.js';

describe('MemoryStore', () => {
  storeBehaviour((clock) => new MemoryStore({ clock }));

  it('uses the system clock by default', () => {
    const store = new MemoryStore();
    const before = Date.now();
    const stored = store.put(exchange);
    expect(stored.createdAt).to.be.within(before, Date.now());
    store.close();
  });

  it('refuses a clock that is not a function', () => {
    expect(() => new MemoryStore({ clock: 5 as never })).to.throw(TypeError, /options\.clock must be a function/);
  });

  it('refuses an unknown option name', () => {
    expect(() => new MemoryStore({ clok: Date.now } as never)).to.throw(TypeError, 'new MemoryStore: unknown option "clok"; the options are clock.');
  });
});
