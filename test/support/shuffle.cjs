'use strict';
// A mocha root-hook plugin (`mocha --require test/support/shuffle.cjs`) that runs the suites and
// tests of every describe block in a seeded random order, so that a test that depends on another
// having run before it fails. Mocha has no shuffle option of its own.
//
// The seed comes from S2S_TEST_SEED (a decimal integer; default 20300115) and is printed at the
// start, so that a failing order can be replayed: `S2S_TEST_SEED=<seed> npx mocha --require
// test/support/shuffle.cjs <files>`. S2S_TEST_SEED=off keeps the order of the files.
// Hooks (before/after, beforeEach/afterEach) keep their place: only tests and suites move.

const DEFAULT_SEED = 20300115;

/** mulberry32: a small, well-known 32-bit PRNG; returns floats in [0, 1). */
function prng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates, in place. */
function shuffle(items, random) {
  for (let i = items.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}

function shuffleSuite(suite, random) {
  shuffle(suite.tests, random);
  shuffle(suite.suites, random);
  for (const child of suite.suites) shuffleSuite(child, random);
}

/** The seed to use, or undefined when shuffling is off; throws on a value that is not a seed. */
function seedFromEnvironment(value) {
  if (value === undefined || value === '') return DEFAULT_SEED;
  if (value === 'off') return undefined;
  if (!/^\d{1,10}$/.test(value)) throw new TypeError(`S2S_TEST_SEED must be a decimal integer or "off", not ${JSON.stringify(value)}`);
  return Number(value) >>> 0;
}

const seed = seedFromEnvironment(process.env.S2S_TEST_SEED);

module.exports = {
  mochaHooks: {
    // The root suite's first hook runs once every file is loaded and before any suite starts, and
    // mocha reads each suite's tests and children only when it reaches that suite.
    beforeAll() {
      if (seed === undefined) {
        process.stdout.write('mocha shuffle: off (S2S_TEST_SEED=off)\n');
        return;
      }
      process.stdout.write(`mocha shuffle: seed ${seed} (replay with S2S_TEST_SEED=${seed})\n`);
      shuffleSuite(this.test.parent, prng(seed));
    },
  },
  // For the test of this module.
  shuffleSuite,
  prng,
  seedFromEnvironment,
};
