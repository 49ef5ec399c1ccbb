import { expect } from 'chai';
import { epochSeconds, systemClock, type Clock } from '../src/clock.js';

describe('clock', () => {
  it('reads the real time from systemClock', () => {
    const before = Date.now();
    const now = systemClock();
    expect(now).to.be.at.least(before);
    expect(now).to.be.at.most(Date.now());
  });

  for (const [ms, seconds] of [
    [0, 0],
    [999, 0],
    [1000, 1],
    [1_700_000_000_999, 1_700_000_000],
    [-1, -1],
  ] as const) {
    it(`gives ${seconds} whole seconds for ${ms} ms`, () => {
      const clock: Clock = () => ms;
      expect(epochSeconds(clock)).to.equal(seconds);
    });
  }
});
