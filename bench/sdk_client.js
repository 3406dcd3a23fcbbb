'use strict';
/*
 * bench/sdk_client.js - the benchmark client for the official
 * @xano/js-sdk 3.0.1 on Node 20: same modes, options and output as
 * bench/client.lua and bench/raw_client.c.
 *
 *   node --experimental-websocket --expose-gc bench/sdk_client.js MODE --port P [options]
 *
 *   throughput     --n N --window W         channel "bench", N echoes
 *   latency        --rate R --seconds S     round trips at a fixed rate
 *   fanin-recv     --channels S --n TOTAL   joins fanin-1..S, counts TOTAL messages
 *   scale-channels --channels K             one client in K channels
 *   client         --id I                   one client in channel c-I: prints "ready"
 *                                           and a JSON line (RSS, when), then stays
 *   idle           --id I --seconds S       the same, then --settle s (2) and until a
 *                                           1 s window takes < 2 ms CPU, then S idle
 *                                           seconds measured
 *   storm          --id I                   the same, then survives a server restart
 *
 * The SDK keeps one socket per process (a singleton), so N SDK clients are
 * N processes of this script: scale, idle and storm run one per client.
 *
 * The SDK always opens wss://<hostname>/rt/<canonical> without the port;
 * as in spec/support/sdk/run.js, the global WebSocket is wrapped so that
 * only the URL changes, to ws://127.0.0.1:PORT/rt/bench.  The SDK is
 * installed by spec/support/sdk/install.sh into .cache/npm.
 *
 * Times are CLOCK_MONOTONIC seconds (process.hrtime), the clock of the
 * Lua and C benchmark programs.  Every run ends by itself after --limit
 * seconds (default 120).
 */

const path = require('path');

const argv = process.argv.slice(2);
const mode = argv[0];
const o = { port: 0, n: 50000, window: 256, warmup: 5000, rate: 1000, seconds: 5, settle: 2, channels: 1,
  id: 1, limit: 120 };
for (let i = 1; i < argv.length; i += 2) {
  const k = argv[i].replace(/^--/, '');
  if (!(k in o) || argv[i + 1] === undefined) {
    process.stderr.write('sdk_client.js: bad option ' + argv[i] + '\n');
    process.exit(2);
  }
  o[k] = Number(argv[i + 1]);
}
if (!mode || !(o.port > 0)) {
  process.stderr.write('usage: sdk_client.js MODE --port P [options]\n');
  process.exit(2);
}

const prefix = process.env.XRT_NPM_PREFIX ||
  path.resolve(__dirname, '..', '.cache', 'npm');
const sdk = require(path.join(prefix, 'node_modules', '@xano', 'js-sdk'));

function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

// the WebSocket URL rewrite; attempts and close codes are noted for the storm
const attempts = [];
const closes = [];
const Base = globalThis.WebSocket;
if (typeof Base !== 'function') {
  process.stderr.write('sdk_client.js: no global WebSocket (Node 20 needs --experimental-websocket)\n');
  process.exit(65);
}
globalThis.WebSocket = new Proxy(Base, {
  construct(target, args) {
    const a = Array.prototype.slice.call(args);
    const u = new URL(String(a[0]));
    a[0] = 'ws://127.0.0.1:' + o.port + u.pathname + u.search;
    attempts.push(now());
    const sock = Reflect.construct(target, a, target);
    sock.addEventListener('close', (e) => closes.push(e.code));
    return sock;
  },
});

const TEXT = 'x'.repeat(64);
const result = { impl: 'sdk', mode: mode };
const deadline = now() + o.limit;

function emit() {
  process.stdout.write(JSON.stringify(result) + '\n');
}

function finish() {
  emit();
  // the SDK gives no way to close its socket but destroying every channel;
  // the process is done anyway
  process.exit(0);
}

// kept referenced: when the SDK gives up on its socket (a close code it
// does not retry) the process still reports, at the limit
setTimeout(() => {
  result.timeout = true;
  if (modes[mode].onTimeout) modes[mode].onTimeout();
  finish();
}, o.limit * 1000);

function newClient() {
  return new sdk.XanoClient({
    instanceBaseUrl: 'https://xano.test/',
    realtimeConnectionCanonical: 'bench',
    storage: new sdk.XanoObjectStorage(),
  });
}

function cpuUs(c0) {
  const c = process.cpuUsage(c0);
  return c.user + c.system;
}

function gc() {
  if (global.gc) {
    global.gc();
    global.gc();
  }
}

function pct(v, p) {
  const n = v.length;
  if (!n) return 0;
  let i = Math.ceil(p * n);
  if (i < 1) i = 1;
  if (i > n) i = n;
  return v[i - 1];
}

// one channel; onReady() when a ping sent after the join comes back
function joinAndPing(ch, onReady, onMessage, onStatus) {
  ch.on((action) => {
    if (action.action === 'connection_status') {
      if (onStatus) onStatus(action.payload.status);
      if (action.payload.status === 'connected') ch.message({ seq: 0, text: TEXT });
    } else if (action.action === 'message') {
      if (action.payload.seq === 0) onReady();
      else if (onMessage) onMessage(action);
    }
  });
}

const modes = {};

modes.throughput = {
  run() {
    const client = newClient();
    const ch = client.channel('bench');
    const WARM = o.warmup;
    const N = o.n + WARM; // the first WARM echoes warm up and are not measured
    const W = o.window;
    let sent = 0;
    let got = 0;
    let t0;
    let c0;
    const sendNext = () => {
      sent++;
      ch.message({ seq: sent, text: TEXT });
    };
    joinAndPing(ch, () => {
      if (sent > 0) return;
      if (WARM === 0) {
        t0 = now();
        c0 = process.cpuUsage();
      }
      for (let i = 0; i < Math.min(W, N); i++) sendNext();
    }, () => {
      got++;
      if (got === WARM) {
        t0 = now();
        c0 = process.cpuUsage();
      }
      if (sent < N) sendNext();
      if (got === N) {
        const el = now() - t0;
        const measured = got - WARM;
        result.cpu_us = cpuUs(c0);
        result.n = measured;
        result.warmup = WARM;
        result.seconds = el;
        result.rate = measured / el;
        result.cpu_us_per_msg = result.cpu_us / measured;
        finish();
      }
    });
    this.onTimeout = () => {
      result.n = Math.max(0, got - WARM);
    };
  },
};

modes.latency = {
  run() {
    const client = newClient();
    const ch = client.channel('bench');
    const total = Math.floor(o.rate * o.seconds);
    const sendt = new Float64Array(total + 1);
    const rtt = new Float64Array(total + 1);
    let sent = 0;
    let got = 0;
    let t0;
    let c0;
    let grace = 0;
    const report = () => {
      const t1 = now();
      result.cpu_us = c0 ? cpuUs(c0) : 0;
      const v = [];
      let sum = 0;
      const warm = Math.floor(total / 10); // the first tenth warms up, not counted
      for (let i = warm + 1; i <= sent; i++) {
        if (rtt[i] > 0) {
          v.push(rtt[i] * 1e6);
          sum += rtt[i] * 1e6;
        }
      }
      v.sort((a, b) => a - b);
      result.target_rate = o.rate;
      result.sent = sent - warm;
      result.received = v.length;
      result.warmup = warm;
      result.seconds = t0 ? t1 - t0 : 0;
      result.rate = result.seconds > 0 ? sent / result.seconds : 0;
      result.p50_us = pct(v, 0.5);
      result.p99_us = pct(v, 0.99);
      result.p999_us = pct(v, 0.999);
      result.max_us = v.length ? v[v.length - 1] : 0;
      result.mean_us = v.length ? sum / v.length : 0;
      finish();
    };
    const tick = () => {
      const t = now();
      const due = Math.min(total, Math.floor((t - t0) * o.rate) + 1);
      while (sent < due) {
        sent++;
        sendt[sent] = now();
        ch.message({ seq: sent, text: TEXT });
      }
      if (sent === total) {
        if (!grace) grace = now() + 1;
        if (got >= total || now() >= grace) return report();
      }
      setTimeout(tick, 1);
    };
    joinAndPing(ch, () => {
      if (t0 !== undefined) return;
      t0 = now();
      c0 = process.cpuUsage();
      tick();
    }, (action) => {
      const seq = action.payload.seq;
      if (seq > 0 && seq <= total && rtt[seq] === 0) {
        rtt[seq] = now() - sendt[seq];
        got++;
      }
    });
    this.onTimeout = () => report();
  },
};

modes['fanin-recv'] = {
  run() {
    const client = newClient();
    const S = o.channels;
    const N = o.n;
    let got = 0;
    let tFirst;
    let tLast;
    let c0;
    let ready = false;
    const chans = [];
    for (let i = 1; i <= S; i++) chans.push(client.channel('fanin-' + i));
    const WARM = Math.max(1, Math.floor(N / 10)); // the first tenth warms up, not measured
    const done = () => {
      const el = tFirst ? tLast - tFirst : 0;
      const m = Math.max(0, got - WARM);
      result.cpu_us = c0 ? cpuUs(c0) : 0;
      result.n = m;
      result.warmup = WARM;
      result.seconds = el;
      result.rate = el > 0 ? m / el : 0;
      result.cpu_us_per_msg = m > 0 ? result.cpu_us / m : 0;
      finish();
    };
    chans.forEach((ch, idx) => {
      ch.on((action) => {
        if (action.action === 'connection_status') {
          if (idx === S - 1 && action.payload.status === 'connected' && !ready) {
            ch.message({ seq: 0, text: TEXT });
          }
          return;
        }
        if (action.action !== 'message') return;
        const seq = action.payload.seq;
        if (seq === 0) {
          if (idx === S - 1 && !ready) {
            ready = true;
            process.stdout.write('ready\n');
          }
          return;
        }
        got++;
        if (got === WARM) {
          tFirst = now();
          c0 = process.cpuUsage();
        }
        tLast = now();
        if (got === N) done();
      });
    });
    this.onTimeout = () => {
      result.n = Math.max(0, got - WARM);
    };
  },
};

modes['scale-channels'] = {
  run() {
    const client = newClient();
    const K = o.channels;
    gc();
    const rss0 = process.memoryUsage().rss;
    const t0 = now();
    const chans = [];
    // every channel first: the SDK sends a join from the constructor of a
    // channel made while its socket exists, and a socket still connecting
    // cannot send
    for (let i = 1; i <= K; i++) chans.push(client.channel('ch-' + i));
    const last = chans[K - 1];
    for (let i = 0; i < K - 1; i++) chans[i].on('message', () => {});
    let done = false;
    joinAndPing(last, () => {
      if (done) return;
      done = true;
      const t1 = now();
      gc();
      result.count = K;
      result.ready = K;
      result.seconds = t1 - t0;
      result.rss_before = rss0;
      result.rss_after = process.memoryUsage().rss;
      finish();
    });
    this.onTimeout = () => {
      result.count = K;
      result.ready = 0;
    };
  },
};

// one client per process: connect, join c-ID, ping; "ready" and a line
function oneClient(after) {
  const client = newClient();
  const ch = client.channel('c-' + o.id);
  const started = now();
  let readyOnce = false;
  const state = { downAt: 0, rejoin: -1, down: false };
  joinAndPing(ch, () => {
    if (!readyOnce) {
      readyOnce = true;
      gc();
      process.stdout.write('ready\n');
      process.stdout.write(JSON.stringify({ impl: 'sdk', mode: 'client', id: o.id,
        ready_at: now(), seconds: now() - started, rss: process.memoryUsage().rss }) + '\n');
      if (after) after(state);
    } else if (state.down && state.rejoin < 0) {
      state.rejoin = now() - state.downAt;
      if (state.onRejoin) state.onRejoin();
    }
  }, null, (status) => {
    if (status === 'disconnected' && readyOnce && !state.down) {
      state.down = true;
      state.downAt = now();
    }
  });
  return state;
}

modes.client = {
  run() {
    oneClient(null);
  },
};

modes.idle = {
  run() {
    // settle first: what follows a start (JIT, GC) is not idleness.  At
    // least --settle s, then until a 1 s window takes under 2 ms of CPU
    // (at most 60 s more): on a busy machine V8's work after a start
    // spreads over more wall time
    const settled = (then) => {
      let last = process.cpuUsage();
      let waited = 0;
      const check = () => {
        const d = process.cpuUsage(last);
        last = process.cpuUsage();
        waited++;
        if (d.user + d.system < 2000 || waited >= 60) then();
        else setTimeout(check, 1000);
      };
      setTimeout(check, 1000);
    };
    oneClient(() => setTimeout(() => settled(() => {
      const c0 = process.cpuUsage();
      const r0 = process.resourceUsage();
      const t0 = now();
      setTimeout(() => {
        const r1 = process.resourceUsage();
        result.clients = 1;
        result.ready = 1;
        result.seconds = now() - t0;
        result.cpu_us = cpuUs(c0);
        result.nvcsw = r1.voluntaryContextSwitches - r0.voluntaryContextSwitches;
        result.nivcsw = r1.involuntaryContextSwitches - r0.involuntaryContextSwitches;
        result.rss = process.memoryUsage().rss;
        finish();
      }, o.seconds * 1000);
    }), o.settle * 1000));
  },
};

modes.storm = {
  run() {
    let firstAttempts = 0;
    const state = oneClient(() => {
      firstAttempts = attempts.length;
    });
    state.onRejoin = () => {
      result.clients = 1;
      result.rejoined = 1;
      result.down_at = state.downAt;
      result.all_rejoined_s = state.rejoin;
      result.rejoin_s = [state.rejoin];
      result.attempt_s = attempts.slice(firstAttempts).map((t) => t - state.downAt);
      result.first_attempt_s = result.attempt_s.slice(0, 1);
      result.close_codes = closes;
      finish();
    };
    this.onTimeout = () => {
      result.clients = 1;
      result.rejoined = 0;
      result.down_at = state.downAt;
      result.all_rejoined_s = -1;
      result.rejoin_s = [-1];
      result.attempt_s = attempts.slice(firstAttempts).map((t) => t - state.downAt);
      result.first_attempt_s = result.attempt_s.slice(0, 1);
      result.close_codes = closes;
    };
  },
};

if (!modes[mode]) {
  process.stderr.write('sdk_client.js: unknown mode ' + mode + '\n');
  process.exit(2);
}
process.on('SIGTERM', () => process.exit(0));
modes[mode].run();
