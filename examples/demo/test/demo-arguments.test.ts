import { expect } from 'chai';
import { parseDemoArguments, UsageError, type DemoSettings } from '../src/demo-arguments.js';

function settings(argv: readonly string[], env: NodeJS.ProcessEnv = {}): DemoSettings {
  const command = parseDemoArguments(argv, env);
  if (command.kind !== 'run') throw new Error('expected settings');
  return command.settings;
}

function usageError(argv: readonly string[], env: NodeJS.ProcessEnv = {}): UsageError {
  try {
    parseDemoArguments(argv, env);
  } catch (error) {
    expect(error).to.be.instanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('parseDemoArguments', () => {
  it('defaults to the on-premises scenario in .data on ports 4401, 4402 and 4400 for the STS', () => {
    expect(settings([])).to.deep.equal({ dataDir: '.data', scenario: 'onprem', lyncPort: 4401, exchangePort: 4402, stsPort: 4400, verbose: false });
  });

  it('reads S2SAUTH_DATA, LYNC_PORT, EXCHANGE_PORT and STS_PORT', () => {
    const env = { S2SAUTH_DATA: '/srv/demo', LYNC_PORT: '5401', EXCHANGE_PORT: '5402', STS_PORT: '5403' };
    expect(settings([], env)).to.include({ dataDir: '/srv/demo', lyncPort: 5401, exchangePort: 5402, stsPort: 5403 });
  });

  it('prefers flags to the environment', () => {
    const env = { S2SAUTH_DATA: '/srv/demo', LYNC_PORT: '5401', EXCHANGE_PORT: '5402', STS_PORT: '5403' };
    const argv = ['--data', 'here', '--lync-port', '6401', '--exchange-port=6402', '--sts-port', '6403', '--scenario', 'onprem', '--verbose'];
    expect(settings(argv, env)).to.deep.equal({ dataDir: 'here', scenario: 'onprem', lyncPort: 6401, exchangePort: 6402, stsPort: 6403, verbose: true });
  });

  it('treats empty environment variables as unset', () => {
    expect(settings([], { S2SAUTH_DATA: '', LYNC_PORT: '', EXCHANGE_PORT: '' })).to.include({ dataDir: '.data', lyncPort: 4401, exchangePort: 4402 });
  });

  it('accepts port 0 for any free port, for both servers at once', () => {
    expect(settings(['--lync-port', '0', '--exchange-port', '0'])).to.include({ lyncPort: 0, exchangePort: 0 });
  });

  it('refuses a port that is not a whole number from 0 to 65535, naming the flag or the variable', () => {
    for (const bad of ['abc', '-1', '65536', '1.5', '0x10', ' 80', '123456']) {
      expect(usageError(['--lync-port', bad]).message, bad).to.match(/^--lync-port .*: a port is a whole number from 1 to 65535 \(0 for any free port\)\.$/);
    }
    expect(usageError([], { EXCHANGE_PORT: 'http' }).message).to.equal('EXCHANGE_PORT=http: a port is a whole number from 1 to 65535 (0 for any free port).');
    expect(usageError(['--sts-port', 'x']).message).to.match(/^--sts-port x:/);
  });

  it('refuses the same port for Lync and Exchange', () => {
    expect(usageError(['--lync-port', '5000', '--exchange-port', '5000']).message).to.equal(
      'Lync and Exchange cannot both use port 5000; give one of them another port.',
    );
  });

  it('runs the cloud and hybrid scenarios', () => {
    for (const scenario of ['cloud', 'hybrid'] as const) {
      expect(settings(['--scenario', scenario])).to.deep.equal({ dataDir: '.data', scenario, lyncPort: 4401, exchangePort: 4402, stsPort: 4400, verbose: false });
    }
  });

  it('refuses the STS on the port of Lync or Exchange in the cloud and hybrid scenarios only', () => {
    expect(usageError(['--scenario', 'cloud', '--sts-port', '4401']).message).to.equal('The STS and Lync cannot both use port 4401; give one of them another port.');
    expect(usageError(['--scenario', 'hybrid'], { STS_PORT: '4402' }).message).to.equal('The STS and Exchange cannot both use port 4402; give one of them another port.');
    // On premises there is no STS to collide with.
    expect(settings(['--sts-port', '4401'])).to.include({ scenario: 'onprem', stsPort: 4401 });
    expect(settings(['--scenario', 'cloud', '--sts-port', '0', '--lync-port', '0', '--exchange-port', '0'])).to.include({ stsPort: 0, lyncPort: 0, exchangePort: 0 });
  });

  it('refuses an unknown scenario', () => {
    expect(usageError(['--scenario', 'moon']).message).to.equal('Unknown scenario "moon": choose onprem, cloud or hybrid.');
    expect(usageError(['--scenario', 'moon']).exitCode).to.equal(2);
  });

  it('refuses unknown flags, missing values and extra arguments in one sentence', () => {
    expect(usageError(['--port', '1']).message).to.equal("unknown option '--port' (see --help).");
    expect(usageError(['--data']).message).to.equal("option '--data <dir>' argument missing (see --help).");
    expect(usageError(['extra']).message).to.match(/^too many arguments.*\(see --help\)\.$/);
    expect(usageError(['--data', '']).message).to.equal('--data needs a folder path.');
  });

  it('returns the help text for --help and -h', () => {
    for (const flag of ['--help', '-h']) {
      const command = parseDemoArguments([flag], {});
      expect(command.kind).to.equal('help');
      if (command.kind === 'help') {
        expect(command.text).to.include('--data <dir>').and.include('S2SAUTH_DATA').and.include('--lync-port').and.include('--exchange-port');
        expect(command.text).to.include('--sts-port').and.include('--scenario').and.include('--verbose');
      }
    }
  });
});
