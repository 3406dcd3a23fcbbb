'use strict';
/*
 * Drives one unmodified @xano/js-sdk@3.0.1 client against a local Xano
 * Realtime server, for the interop specs.
 *
 *   node --experimental-websocket spec/support/sdk/run.js --port PORT
 *        [--host 127.0.0.1] [--lifetime 60] [--connect CTRL_PORT --key KEY]
 *        [--websocket auto|native|ws]
 *
 * The SDK always opens wss://<hostname>/rt/<canonical>: it takes only the
 * host name of the base URL and drops the port.  The global WebSocket is
 * therefore wrapped so
 * that the URL, and nothing else, is rewritten to ws://HOST:PORT/rt/...; the
 * protocols argument (the token travels as the subprotocol) is passed
 * through untouched.  Without a global WebSocket (Node < 20.10, or no
 * --experimental-websocket) the `ws` package installed with the SDK is used;
 * --websocket ws forces that path (the one Node 18 takes).
 *
 * The SDK keeps one process-wide socket, so one process
 * drives one SDK client: start one process per client.
 *
 * Control: a line-oriented JSON protocol, one object per line.  On stdin by
 * default; with --connect the process connects to 127.0.0.1:CTRL_PORT and
 * uses that TCP connection instead (spec/support/sdk.lua does this).
 *
 * Commands (every command may carry "seq"; each is answered by
 * {"ev":"ok","seq":..,"cmd":..} or {"ev":"fail","seq":..,"cmd":..,"message":..}):
 *   {"cmd":"client","id":"a","token":"tok-alice","canonical":"abc",
 *    "base_url":"https://xano.test/","hash":false,"wire":false}
 *   {"cmd":"channel","client":"a","channel":"room1","options":{"presence":true,...}}
 *   {"cmd":"on","client":"a","channel":"room1"[,"action":"message"]}
 *   {"cmd":"message","client":"a","channel":"room1","payload":..,"options":{..}}
 *   {"cmd":"private","client":"a","channel":"room1","socketId":"..","payload":..
 *    [,"via":"presence"|"channel"]}
 *   {"cmd":"history","client":"a","channel":"room1"[,"socketId":".."]}
 *   {"cmd":"presence","client":"a","channel":"room1"}
 *   {"cmd":"destroy","client":"a","channel":"room1"}
 *   {"cmd":"reconnect","client":"a"}
 *   {"cmd":"exit"}
 *
 * Events written (one object per line):
 *   {"ev":"ready","pid":..,"node":"v20..","websocket":"native"|"ws","sdk":"3.0.1"}
 *   {"ev":"frame","client":"a","channel":"room1","frame":{action,options,client,payload}}
 *       every call of the SDK's on() handler (what the SDK hands the app)
 *   {"ev":"error","client":"a","channel":"room1","frame":{..}}
 *       every call of the SDK's onError callback
 *   {"ev":"presence","client":"a","channel":"room1","list":[..],"auto":bool}
 *       channel.getPresence(), on request and after each presence frame
 *   {"ev":"socket","client":"a","what":"open"|"close"|"error","url":<SDK's URL>,
 *    "to":<rewritten URL>,"protocols":..,"protocol":..,"code":..}
 *   {"ev":"wire","client":"a","data":"<raw text frame>"}   (with "wire":true)
 *   {"ev":"exception","message":..}   an exception escaped to the event loop
 *   {"ev":"bye","reason":..}          just before the process exits
 */

const path = require('path');
const fs = require('fs');
const net = require('net');
const readline = require('readline');

const SDK_VERSION = '3.0.1';
const started = Date.now();

// Sockets inherited from the parent (LuaSocket and the server's transport
// do not set close-on-exec) would keep the parent's end of another
// harness's control connection, or the server's own sockets, open for as
// long as this process lives.  Node has opened no socket yet, so every
// socket descriptor here is inherited: close them (Linux; elsewhere skip).
(function closeInheritedSockets() {
  let fds;
  try {
    fds = fs.readdirSync('/proc/self/fd');
  } catch (e) {
    return;
  }
  for (const name of fds) {
    const fd = Number(name);
    if (!(fd > 2)) continue;
    try {
      if (fs.readlinkSync('/proc/self/fd/' + name).startsWith('socket:')) fs.closeSync(fd);
    } catch (e) {
      // gone already (the directory's own descriptor), or not ours to close
    }
  }
})();

function parseArgs(argv) {
  const o = { host: '127.0.0.1', port: 0, lifetime: 60, connect: 0, key: '',
    websocket: 'auto' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    switch (k) {
      case '--host': o.host = v; i++; break;
      case '--port': o.port = Number(v); i++; break;
      case '--lifetime': o.lifetime = Number(v); i++; break;
      case '--connect': o.connect = Number(v); i++; break;
      case '--key': o.key = v; i++; break;
      case '--prefix': o.prefix = v; i++; break;
      case '--websocket': o.websocket = v; i++; break;
      default:
        process.stderr.write('run.js: unknown argument ' + k + '\n');
        process.exit(64);
    }
  }
  if (!(o.port > 0 && o.port < 65536)) {
    process.stderr.write('run.js: --port PORT (the local server) is required\n');
    process.exit(64);
  }
  if (!(o.lifetime > 0)) o.lifetime = 60;
  if (!['auto', 'native', 'ws'].includes(o.websocket)) {
    process.stderr.write('run.js: --websocket auto|native|ws\n');
    process.exit(64);
  }
  o.prefix = o.prefix || process.env.XRT_NPM_PREFIX ||
    path.resolve(__dirname, '..', '..', '..', '.cache', 'npm');
  return o;
}

const opts = parseArgs(process.argv.slice(2));

/* ---- output ------------------------------------------------------------ */

let out = null;          // function(line)
let closeOut = null;     // function(callback): flush and close the output
let exiting = false;

function emit(obj) {
  obj.t = Date.now() - started;
  let line;
  try {
    line = JSON.stringify(obj);
  } catch (e) {
    line = JSON.stringify({ ev: 'exception', message: 'unserialisable event: ' + e.message,
      t: obj.t });
  }
  if (out) out(line + '\n');
}

function finish(reason, code) {
  if (exiting) return;
  exiting = true;
  emit({ ev: 'bye', reason: reason });
  if (closeOut) closeOut(() => process.exit(code));
  else process.exit(code);
  // never linger, whatever the control channel does
  setTimeout(() => process.exit(code), 500).unref();
}

/* ---- the SDK and the WebSocket wrapper ------------------------------------ */

function load(name) {
  return require(path.join(opts.prefix, 'node_modules', name));
}

let sdk;
try {
  const manifest = JSON.parse(fs.readFileSync(
    path.join(opts.prefix, 'node_modules', '@xano', 'js-sdk', 'package.json'), 'utf8'));
  if (manifest.version !== SDK_VERSION) {
    throw new Error('found @xano/js-sdk ' + manifest.version + ', want ' + SDK_VERSION);
  }
  sdk = load('@xano/js-sdk');
} catch (e) {
  process.stderr.write('run.js: cannot load @xano/js-sdk@' + SDK_VERSION + ' from ' +
    opts.prefix + ' (run spec/support/sdk/install.sh): ' + e.message + '\n');
  process.exit(65);
}

let BaseWebSocket = typeof globalThis.WebSocket === 'function' && opts.websocket !== 'ws' ?
  globalThis.WebSocket : null;
let wsImpl = 'native';
if (!BaseWebSocket && opts.websocket === 'native') {
  process.stderr.write('run.js: this Node has no global WebSocket (' + process.version +
    '; 20.10-21 need --experimental-websocket)\n');
  process.exit(65);
}
if (!BaseWebSocket) {
  try {
    BaseWebSocket = load('ws');
    wsImpl = 'ws';
  } catch (e) {
    process.stderr.write('run.js: no global WebSocket (run node with ' +
      '--experimental-websocket) and no ws package: ' + e.message + '\n');
    process.exit(65);
  }
}

let currentClient = null;   // the id of the one SDK client of this process
let wire = false;

function rewrite(url) {
  const u = new URL(String(url));
  return 'ws://' + opts.host + ':' + opts.port + u.pathname + u.search;
}

function observe(sock, original, to, protocols) {
  const who = currentClient;
  const base = { client: who, url: original, to: to };
  if (protocols !== undefined) base.protocols = protocols;
  sock.addEventListener('open', () => {
    emit(Object.assign({ ev: 'socket', what: 'open', protocol: sock.protocol }, base));
  });
  sock.addEventListener('close', (e) => {
    emit(Object.assign({ ev: 'socket', what: 'close', code: e.code,
      reason: e.reason }, base));
  });
  // An 'error' listener is also what keeps the ws package from crashing
  // the process on a failed handshake; browsers never crash.
  sock.addEventListener('error', (e) => {
    emit(Object.assign({ ev: 'socket', what: 'error',
      message: (e && (e.message || (e.error && e.error.message))) || 'error' }, base));
  });
  if (wire) {
    sock.addEventListener('message', (e) => {
      emit({ ev: 'wire', client: who, data: String(e.data) });
    });
  }
}

// Only the URL changes; every other argument, static and prototype is the
// implementation's own (a Proxy keeps WebSocket.OPEN, instanceof, ...).
globalThis.WebSocket = new Proxy(BaseWebSocket, {
  construct(target, args, newTarget) {
    const original = String(args[0]);
    const a = Array.prototype.slice.call(args);
    a[0] = rewrite(original);
    const sock = Reflect.construct(target, a, newTarget === globalThis.WebSocket ?
      target : newTarget);
    observe(sock, original, a[0], args[1]);
    return sock;
  },
});

/* ---- commands -------------------------------------------------------------- */

let client = null;            // the XanoClient
const channels = new Map();   // name -> XanoRealtimeChannel

function presenceList(ch) {
  return ch.getPresence().map((c) => {
    const o = {};
    for (const k of Object.keys(c)) if (k !== 'channel') o[k] = c[k];
    return o;
  });
}

function needClient(cmd) {
  if (!client) throw new Error('no client yet: send {"cmd":"client",...} first');
  if (cmd.client !== undefined && cmd.client !== currentClient) {
    throw new Error('this process drives client "' + currentClient + '", not "' +
      cmd.client + '" (the SDK has one socket per process: start one process per client)');
  }
}

function needChannel(cmd) {
  needClient(cmd);
  const ch = channels.get(cmd.channel);
  if (!ch) throw new Error('no channel "' + cmd.channel + '"');
  return ch;
}

const handlers = {
  client(cmd) {
    if (client) {
      throw new Error('one SDK client per process (its socket is a process-wide ' +
        'singleton): start another process');
    }
    if (typeof cmd.id !== 'string' || cmd.id === '') throw new Error('client: id expected');
    const config = {
      instanceBaseUrl: cmd.base_url || 'https://xano.test/',
      // in Node the default XanoLocalStorage has no localStorage to use
      storage: new sdk.XanoObjectStorage(),
    };
    const canonical = cmd.canonical || 'abc';
    if (cmd.hash) config.realtimeConnectionHash = canonical;
    else config.realtimeConnectionCanonical = canonical;
    if (cmd.token !== undefined && cmd.token !== null) config.realtimeAuthToken = cmd.token;
    wire = !!cmd.wire;
    currentClient = cmd.id;
    client = new sdk.XanoClient(config);
  },

  channel(cmd) {
    needClient(cmd);
    if (typeof cmd.channel !== 'string') throw new Error('channel: name expected');
    if (channels.has(cmd.channel)) {
      throw new Error('channel "' + cmd.channel + '" is already open in this process');
    }
    channels.set(cmd.channel, client.channel(cmd.channel, cmd.options || {}));
  },

  on(cmd) {
    const ch = needChannel(cmd);
    const name = cmd.channel;
    const onFunc = (frame) => {
      emit({ ev: 'frame', client: currentClient, channel: name, frame: frame });
      if (frame && (frame.action === 'presence_full' || frame.action === 'presence_update')) {
        emit({ ev: 'presence', client: currentClient, channel: name,
          list: presenceList(ch), auto: true });
      }
    };
    const onError = (frame) => {
      emit({ ev: 'error', client: currentClient, channel: name, frame: frame });
    };
    if (typeof cmd.action === 'string') ch.on(cmd.action, onFunc, onError);
    else ch.on(onFunc, onError);
  },

  message(cmd) {
    const ch = needChannel(cmd);
    if (cmd.options === undefined) ch.message(cmd.payload);
    else ch.message(cmd.payload, cmd.options);
  },

  private(cmd) {
    const ch = needChannel(cmd);
    if (typeof cmd.socketId !== 'string') throw new Error('private: socketId expected');
    if (cmd.via === 'channel') {
      ch.message(cmd.payload, { socketId: cmd.socketId });
      return;
    }
    const entry = ch.getPresence().find((c) => c.socketId === cmd.socketId);
    if (!entry) {
      throw new Error('socketId ' + cmd.socketId + ' is not in the presence of "' +
        cmd.channel + '"');
    }
    entry.message(cmd.payload);
  },

  history(cmd) {
    const ch = needChannel(cmd);
    if (typeof cmd.socketId !== 'string') {
      ch.history();
      return;
    }
    const entry = ch.getPresence().find((c) => c.socketId === cmd.socketId);
    if (!entry) throw new Error('socketId ' + cmd.socketId + ' is not in the presence');
    entry.history();
  },

  presence(cmd) {
    const ch = needChannel(cmd);
    emit({ ev: 'presence', client: currentClient, channel: cmd.channel,
      list: presenceList(ch), auto: false });
  },

  destroy(cmd) {
    const ch = needChannel(cmd);
    channels.delete(cmd.channel);
    ch.destroy();
  },

  reconnect(cmd) {
    needClient(cmd);
    client.realtimeReconnect();
  },

  exit() {
    finish('exit', 0);
  },
};

function handleLine(line) {
  if (exiting || !line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    emit({ ev: 'fail', cmd: null, message: 'not JSON: ' + e.message });
    return;
  }
  const name = cmd && cmd.cmd;
  const h = Object.prototype.hasOwnProperty.call(handlers, name) ? handlers[name] : null;
  if (!h) {
    emit({ ev: 'fail', seq: cmd && cmd.seq, cmd: name === undefined ? null : name,
      message: 'unknown command' });
    return;
  }
  try {
    h(cmd);
    if (!exiting) emit({ ev: 'ok', seq: cmd.seq, cmd: name });
  } catch (e) {
    emit({ ev: 'fail', seq: cmd.seq, cmd: name, message: String(e && e.message || e) });
  }
}

/* ---- control channel and lifetime ------------------------------------------ */

process.on('uncaughtException', (e) => {
  // An exception thrown inside the SDK from a socket callback lands here;
  // report it and go on, as a browser would.
  emit({ ev: 'exception', message: String(e && e.message || e),
    stack: e && e.stack ? String(e.stack).split('\n').slice(0, 6).join('\n') : undefined });
});

setTimeout(() => finish('lifetime', 3), opts.lifetime * 1000);
process.on('SIGTERM', () => finish('SIGTERM', 0));
process.on('SIGINT', () => finish('SIGINT', 0));

function ready() {
  emit({ ev: 'ready', pid: process.pid, node: process.version, websocket: wsImpl,
    sdk: SDK_VERSION, key: opts.key || undefined });
}

if (opts.connect) {
  const sock = net.connect({ host: '127.0.0.1', port: opts.connect });
  sock.setNoDelay(true);
  out = (s) => { if (!sock.destroyed) sock.write(s); };
  closeOut = (cb) => { if (sock.destroyed) cb(); else sock.end(cb); };
  sock.on('connect', () => {
    const rl = readline.createInterface({ input: sock, crlfDelay: Infinity });
    rl.on('line', handleLine);
    ready();
  });
  sock.on('error', (e) => {
    process.stderr.write('run.js: control connection: ' + e.message + '\n');
    out = null;
    finish('control error', 1);
  });
  sock.on('close', () => {
    out = null;
    closeOut = null;
    finish('control closed', 0);
  });
} else {
  out = (s) => { process.stdout.write(s); };
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', handleLine);
  rl.on('close', () => finish('stdin closed', 0));
  ready();
}
