import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

/** The web app: src/client/index.html, built into dist/client, which the server serves. */
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
  },
  server: {
    proxy: { '/ws': { target: 'ws://localhost:8080', ws: true } },
  },
});
