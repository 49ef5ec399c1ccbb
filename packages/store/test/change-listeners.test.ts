import { expect } from 'chai';
import { ChangeListeners } from '../src/change-listeners.js';

describe('ChangeListeners', () => {
  it('notifies every subscription in order with the identity and kind', () => {
    const listeners = new ChangeListeners();
    const calls: string[] = [];
    listeners.add((identity, kind) => calls.push(`a ${identity} ${kind}`));
    listeners.add((identity, kind) => calls.push(`b ${identity} ${kind}`));
    listeners.notify('microsoft.exchange', 'partnerApplication');
    listeners.notify(undefined, undefined);
    expect(calls).to.deep.equal([
      'a microsoft.exchange partnerApplication',
      'b microsoft.exchange partnerApplication',
      'a undefined undefined',
      'b undefined undefined',
    ]);
  });

  it('counts subscriptions and forgets them all when cleared', () => {
    const listeners = new ChangeListeners();
    const calls: unknown[] = [];
    const unsubscribe = listeners.add(() => calls.push(1));
    listeners.add(() => calls.push(2));
    expect(listeners.size).to.equal(2);
    unsubscribe();
    expect(listeners.size).to.equal(1);
    listeners.clear();
    expect(listeners.size).to.equal(0);
    listeners.notify('x', 'oauthServer');
    expect(calls).to.deep.equal([]);
  });

  it('calls only the listeners subscribed when the notification started', () => {
    const listeners = new ChangeListeners();
    const calls: string[] = [];
    let unsubscribeSecond = (): void => undefined;
    listeners.add(() => {
      calls.push('first');
      unsubscribeSecond();
      listeners.add(() => calls.push('late'));
    });
    unsubscribeSecond = listeners.add(() => calls.push('second'));
    listeners.notify('x', 'partnerApplication');
    expect(calls).to.deep.equal(['first', 'second']);
  });

  it('rethrows the first error after every listener ran', () => {
    const listeners = new ChangeListeners();
    const first = new Error('first');
    const calls: string[] = [];
    listeners.add(() => {
      throw first;
    });
    listeners.add(() => {
      calls.push('middle');
      throw new Error('second');
    });
    listeners.add(() => calls.push('last'));
    expect(() => listeners.notify('x', 'partnerApplication')).to.throw(first);
    expect(calls).to.deep.equal(['middle', 'last']);
  });

  it('refuses a listener that is not a function', () => {
    expect(() => new ChangeListeners().add(null as never)).to.throw(TypeError, /onChange: listener must be a function/);
  });
});
