// Starts and stops a real Giveathon server for the browser tests: `giveathon serve` on a free
// loopback port, a fresh embedded PostgreSQL in a temporary folder, the in-process Stripe
// sandbox, e-mail logged only; admin@example.org is the admin.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, open } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** The server binary: GIVEATHON_BIN (relative to web/), default ../bin/giveathon. */
export const serverBinary = path.resolve(webDir, process.env.GIVEATHON_BIN || '../bin/giveathon');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitReady(url, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the server exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
      if (res.status === 200) return;
      last = `${res.status} ${(await res.text()).trim()}`;
    } catch (e) {
      last = e.cause?.code || e.message;
    }
    await sleep(250);
  }
  throw new Error(`not ready after ${timeoutMs / 1000} s (last answer: ${last})`);
}

/**
 * Starts a server and waits (up to 60 s) until GET /readyz answers 200. Returns its base URL,
 * the path of its log, and stop({ keepLog }) that stops it with SIGINT, waits for it, and
 * removes its folder (all but the log when keepLog).
 */
export async function startServer({ env: extra = {}, bin = serverBinary } = {}) {
  const tmp = await mkdtemp(path.join(tmpdir(), 'giveathon-e2e-'));
  const logPath = path.join(tmp, 'server.log');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    ENV: 'development',
    DATA_DIR: path.join(tmp, 'data'),
    HTTP_ADDR: `127.0.0.1:${port}`,
    PUBLIC_URL: base,
    LIMIT_REGISTER_PER_IP: '0',
    LIMIT_DONATIONS_PER_DONOR: '0',
    LIMIT_DECLINED_CARDS_PER_DONOR: '0',
    // The console's tests sign up with this e-mail to be an admin (the development default,
    // made explicit so that an ADMIN_EMAILS in the environment does not change it).
    ADMIN_EMAILS: 'admin@example.org',
  };
  for (const k of ['SMTP_URL', 'DATABASE_URL', 'JOBS_DATABASE_URL', 'STRIPE_SECRET_KEY', 'STRIPE_PUBLISHABLE_KEY', 'STRIPE_API_BASE', 'ADMIN_ADDR']) {
    delete env[k];
  }
  Object.assign(env, extra);

  const log = await open(logPath, 'a');
  const child = spawn(bin, ['serve'], { env, stdio: ['ignore', log.fd, log.fd], cwd: tmp });
  const spawned = new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e) => reject(new Error(`cannot start ${bin}: ${e.message} (build it with make build)`)));
  });

  let stopped;
  const stop = ({ keepLog = false } = {}) => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        await new Promise((resolve) => {
          const kill = setTimeout(() => {
            console.error('e2e: the server did not stop within 30 s: killing it');
            child.kill('SIGKILL');
          }, 30_000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill('SIGINT');
        });
      }
      await log.close().catch(() => {});
      if (keepLog) await rm(path.join(tmp, 'data'), { recursive: true, force: true }).catch(() => {});
      else await rm(tmp, { recursive: true, force: true }).catch(() => {});
    })();
    return stopped;
  };

  try {
    await spawned;
    await waitReady(`${base}/readyz`, child, 60_000);
  } catch (e) {
    await stop({ keepLog: true });
    e.message += ` (server log: ${logPath})`;
    throw e;
  }
  return { base, logPath, stop };
}
