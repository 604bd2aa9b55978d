import { jest } from '@jest/globals';
import { main } from '../../core/src/cli.js';

/** Runs the CLI's entry point in this process and returns its exit code and what it printed. */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    return { code: await main(argv), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

const configVerbs = ['run', 'validate', 'test', 'plugins', 'predict', 'tune lr', 'tune batch-size'];

describe('CLI options', () => {
  test.each(configVerbs)('%s takes -c, a repeatable --set, --stage, -v and -q, and shows an example', async (verb) => {
    const { code, stdout } = await cli(...verb.split(' '), '--help');
    expect(code).toBe(0);
    for (const option of ['-c, --config <file>', '--set <key=value>', '--stage <name>', '-v, --verbose', '-q, --quiet']) expect(stdout).toContain(option);
    expect(stdout).not.toContain('--set <key=value...>');
    expect(stdout).toMatch(new RegExp(`Example:\\n  \\$ npx bt-platform ${verb} `));
  });

  test.each(['schema', 'data synth', 'weights list', 'report', 'sync'])('%s --help shows an example', async (verb) => {
    const { stdout } = await cli(...verb.split(' '), '--help');
    expect(stdout).toContain(`Example:\n  $ npx bt-platform ${verb}`);
  });

  test('plugin command defaults are shown as values', async () => {
    const { stdout } = await cli('tune', 'lr', '--help');
    expect(stdout).toContain('(default: 100)');
    expect(stdout).not.toContain('(default: "100")');
  });

  test('plugins writes defaults as in a YAML config, with the types of unions', async () => {
    const { code, stdout } = await cli('plugins', '-c', 'test/cases/_toy/base.yaml');
    expect(code).toBe(0);
    expect(stdout).toContain('mode = barlow-twins  ("barlow-twins"|"segmentation")');
    expect(stdout).toContain('workers = auto  (integer|"auto")');
    expect(stdout).toContain('betas = [0.9, 0.999]  ([number, number])');
    expect(stdout).toContain('stages = [train, val]  (("train"|"val")[])');
  });

  test('validate --stage prints one stage of a pipeline; --stage on a config without stages is a config error', async () => {
    const one = await cli('validate', '-c', 'configs/quickstart.yaml', '--stage', 'finetune');
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('# stage finetune');
    expect(one.stdout).not.toContain('# stage pretrain');
    const none = await cli('validate', '-c', 'test/cases/_toy/base.yaml', '--stage', 'x');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('has no `stages`, so --stage x does not apply.');
  });
});
