import { definePlugin } from '@bt-platform/sdk';

export default definePlugin({
  name: 'exploding',
  apply(hooks) {
    hooks.trainEpochEnd.tapPromise('exploding', async () => {
      throw new Error('boom at the end of the epoch');
    });
  },
});
