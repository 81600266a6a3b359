import { defineConfig } from 'vitest/config';

// Network tests build real namespaces and must not run concurrently with each other:
// they share the host's /dev/net/tun and CPU, and timing-sensitive checks (ping) suffer.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
