import { definePlugin } from '@bt-platform/sdk';

export default definePlugin({ name: 'predict' });
