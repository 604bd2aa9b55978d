import { runTinyFit } from '@bt-platform/sdk/testing';

test('tiny fit runs', async () => {
  const result = await runTinyFit();
  console.log(result.runDir, result.status, result.metrics, result.recorder.compact());
  expect(result.status).toBe('completed');
});
