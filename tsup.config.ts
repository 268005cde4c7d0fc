import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'lib/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  // Rewrites import.meta.url for the CommonJS build, which the loader uses to find the package root.
  shims: true,
  target: 'node18',
  platform: 'node',
  outDir: 'dist',
  clean: true,
  sourcemap: true,
});
