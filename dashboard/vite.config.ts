// Vite build of the dashboard. `npm run dev` proxies the API to a Roost on :8000
// (ROOST_URL overrides), so the page talks to the same paths as when Roost
// serves it.
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

const roost = process.env.ROOST_URL ?? 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    chunkSizeWarningLimit: 2048,
  },
  server: {
    proxy: {
      '/api': roost,
      '/metrics': roost,
      '/ws': { target: roost.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
