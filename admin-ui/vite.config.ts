import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { formValidators } from './form-validators.ts';

const here = fileURLToPath(new URL('.', import.meta.url));

/**
 * The console builds from admin-ui/ into admin-ui/dist/, which the admin listener serves at `/`.
 * It imports the spec/ TypeBox schemas directly, so its forms validate with the very schemas the
 * server validates with, compiled at build time (form-validators.ts) so the page needs no eval.
 * Source maps are off to keep `npm ci` fast and the served files few.
 */
export default defineConfig({
  root: here,
  base: '/',
  plugins: [react(), formValidators()],
  logLevel: 'warn',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 2000 },
  server: { fs: { allow: [fileURLToPath(new URL('..', import.meta.url))] } },
});
