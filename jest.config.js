/** Jest runs the TypeScript sources directly (ts-jest, ESM); `npm run typecheck` does the type checking. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }],
  },
  transformIgnorePatterns: ['/node_modules/(?!@bt-platform/)'],
  // Example plugins keep their tests in their own package, as a third-party plugin would.
  testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/examples/*/test/**/*.test.ts'],
  testTimeout: 120000,
  maxWorkers: 2,
};
