import { runTinyFit } from '@bt-platform/sdk/testing';

// Built-in plugins (every folder in plugins/) are loaded by the core itself.
describe('early-stopping in a run', () => {
  it('stops the fit through shouldStop once the monitored metric stops improving', async () => {
    // val/mae falls as the toy model learns, so "max" mode sees no improvement after the first check.
    const result = await runTinyFit({
      config: { trainer: { maxEpochs: 6 }, callbacks: [{ use: 'early-stopping', monitor: 'val/mae', mode: 'max', patience: 2 }] },
    });
    expect(result.status).toBe('stopped');
    expect(result.reason).toMatch(/val\/mae did not improve/);
    expect(result.recorder.names.filter((n) => n === 'validationEnd')).toHaveLength(3);
  });

  it('fails before training with the missing key and the keys available', async () => {
    await expect(
      runTinyFit({ config: { trainer: { maxEpochs: 2 }, callbacks: [{ use: 'early-stopping', monitor: 'val/mIoU' }] } }),
    ).rejects.toThrow(/callbacks\.0\.monitor: early-stopping reads "val\/mIoU"[\s\S]*one of [^\n]*val\/mae/);
  });
});
