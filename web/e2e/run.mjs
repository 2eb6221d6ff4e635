#!/usr/bin/env node
// Runs the browser tests against a real Giveathon server: starts `giveathon serve` (see
// server.mjs) on a free loopback port, waits for /readyz, runs
// `node --test --test-concurrency=1` over e2e/*.test.mjs with BASE_URL set, stops the server
// with SIGINT (it stops its PostgreSQL) and exits with the tests' code.
//
//   GIVEATHON_BIN   the server binary (default ../bin/giveathon, relative to web/)
//   CHROMIUM_PATH   the browser (default /usr/bin/chromium)
//   SCREENSHOT_DIR  also write the main pages' screenshots there
//   E2E_FILTER      only the test files whose name contains it
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverBinary, startServer } from './server.mjs';

const e2eDir = path.dirname(fileURLToPath(import.meta.url));
const webDir = path.dirname(e2eDir);

async function main() {
  const started = Date.now();
  const filter = process.env.E2E_FILTER || '';
  const files = (await readdir(e2eDir))
    .filter((f) => f.endsWith('.test.mjs') && f.includes(filter))
    .sort()
    .map((f) => path.join('e2e', f));
  if (!files.length) throw new Error(`no test files in e2e/ match ${JSON.stringify(filter)}`);

  console.log(`e2e: starting ${serverBinary} serve`);
  const server = await startServer();
  console.log(`e2e: server ready on ${server.base} in ${((Date.now() - started) / 1000).toFixed(1)} s (log: ${server.logPath})`);

  let tests;
  const onSignal = async (sig) => {
    console.error(`e2e: ${sig}: stopping`);
    tests?.kill('SIGTERM');
    await server.stop({ keepLog: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let code = 1;
  try {
    tests = spawn(process.execPath, ['--test', '--test-concurrency=1', ...files], {
      cwd: webDir,
      env: { ...process.env, BASE_URL: server.base, GIVEATHON_LOG: server.logPath, GIVEATHON_BIN: serverBinary },
      stdio: 'inherit',
    });
    code = await new Promise((resolve) => {
      tests.once('error', (e) => {
        console.error(`e2e: cannot run the tests: ${e.message}`);
        resolve(1);
      });
      tests.once('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
    });
  } finally {
    await server.stop({ keepLog: code !== 0 });
  }

  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (code === 0) console.log(`e2e: passed in ${secs} s`);
  else console.error(`e2e: failed (exit ${code}) after ${secs} s; server log: ${server.logPath}`);
  process.exit(code);
}

main().catch((e) => {
  console.error(`e2e: ${e.message}`);
  process.exit(1);
});
