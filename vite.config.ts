import { resolve } from 'node:path';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

/**
 * The web app: src/client/index.html, built into dist/client, which the server serves. The
 * connectivity self-test (selftest.html, served at /selftest) is a second entry, so none of it
 * weighs on the app's first load.
 */
export default defineConfig({
  root: 'src/client',
  base: '/',
  plugins: [preact({ devtoolsInProd: false, prefreshEnabled: false })],
  build: {
    outDir: '../../dist/client',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: true,
    rollupOptions: {
      input: {
        main: resolve(import.meta.dirname, 'src/client/index.html'),
        selftest: resolve(import.meta.dirname, 'src/client/selftest.html'),
      },
    },
  },
  server: {
    proxy: {
      '/ws': { target: 'ws://localhost:8080', ws: true },
      '/api': { target: 'http://localhost:8080' },
    },
  },
});
