'use strict';
// Mocha's spec reporter, plus one plain closing line ("mocha: N passed, N failed, N skipped")
// so that CI logs state the count in a form any reader (or log scraper) understands.
const Mocha = require('mocha');

class SpecWithTotals extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const s = runner.stats ?? {};
      process.stdout.write(`\nmocha: ${s.passes ?? 0} passed, ${s.failures ?? 0} failed, ${s.pending ?? 0} skipped\n`);
    });
  }
}

module.exports = SpecWithTotals;
