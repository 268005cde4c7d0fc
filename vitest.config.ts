import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each file runs in its own child process, so a test that switches the instruction set or loads the addon
    // in a worker thread cannot affect another file.
    pool: 'forks',
    testTimeout: 60_000,
  },
});
