import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

/**
 * The console builds from admin-ui/ into admin-ui/dist/, which the admin listener serves at `/`.
 * It imports the spec/ TypeBox schemas directly, so its forms validate with the very schemas the
 * server validates with. Source maps are off to keep `npm ci` fast and the served files few.
 */
export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  logLevel: 'warn',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 2000 },
  server: { fs: { allow: [fileURLToPath(new URL('..', import.meta.url))] } },
});
