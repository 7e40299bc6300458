/**
 * `meshca-agent`: the sidecar's composition root. Builds the CA client, the
 * installer, the reloader and the reconcile loop, and runs the loop until
 * SIGTERM or SIGINT (or once, with --once).
 */
import { Command, CommanderError, Option } from 'commander';
import type { Server } from 'node:http';
import { constants } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { CaClient } from '../agent/ca-client.js';
import { MAX_CLOCK_SKEW_MS } from '../agent/clock-skew.js';
import { claimDirectories } from '../agent/directory-claim.js';
import { startHealthServer } from '../agent/health-server.js';
import { InstalledFiles } from '../agent/installed-files.js';
import { AtomicDirectoryPublisher, SwapNotDurableError, type PublishedFile } from '../agent/installer.js';
import { renderAgentMetrics } from '../agent/metrics.js';
import { sharedWriteAccess } from '../agent/private-directory.js';
import { performReload, reloadAction, stopReloadCommands } from '../agent/reloader.js';
import { Sidecar, SidecarConfigurationError } from '../agent/sidecar.js';
import { StateStore } from '../agent/state-store.js';
import { AGENT_OPTIONS, loadAgentConfig, MAX_TOKEN_FILE_BYTES, MAX_TRUST_BUNDLE_BYTES } from '../config/agent-config.js';
import { configFileOption, ConfigError, envName } from '../config/options.js';
import { systemClock } from '../time/clock.js';
import { cryptoRandom } from '../random/random-source.js';
import { readRegularFile } from '../platform/regular-file.js';
import { checkOutDirectory } from './credential-files.js';
import { errorText } from './error-text.js';
import { refuseRepeatedFlags } from './flag-repetition.js';
import { settingDescription } from './help-notes.js';
import { commanderExitCode, EX_CONFIG } from './exit-codes.js';
import { answerSighup } from './held-signals.js';
import { createLogger, synchronousStdout } from './logger.js';
import { VERSION } from './version.js';

/**
 * How long a stopping agent waits for the answer to an attestation the CA has
 * received: well inside the grace periods of systemd (90 s) and Kubernetes (30 s).
 */
const ATTESTATION_GRACE_MS = 5_000;

type Logger = ReturnType<typeof createLogger>;

/**
 * --once: how long to wait before a second step installs crl.pem, when the
 * first installed none because the CA's CRLs are not valid yet by this
 * host's clock, and they will be within the skew the agent tolerates (a CA
 * whose clock runs a little ahead, beyond the 30 s it sets thisUpdate back).
 * Undefined when there is nothing to wait for, or too long to wait: --once
 * then fails, rather than leave a proxy configured with a CRL file without one.
 */
function crlWaitMs(sidecar: Sidecar, log: Logger): number | undefined {
  const validFromMs = sidecar.crlsNotInstalled()?.validFromMs;
  if (validFromMs === undefined || validFromMs - systemClock.nowMs() > MAX_CLOCK_SKEW_MS) return undefined;
  const waitMs = Math.max(0, validFromMs - systemClock.nowMs());
  log.warn(
    { validFrom: new Date(validFromMs).toISOString() },
    `the CA's CRLs are not valid yet by this host's clock, which is behind the CA's; waiting ${Math.ceil(waitMs / 1000)} s to install crl.pem (--once)`,
  );
  return waitMs;
}

/**
 * SIGTERM and SIGINT: `stopping` at once, then `stop` — but an attestation the
 * CA has received gets a few seconds first: cut off, the SVID the join token
 * is buying would be lost with the token, which the CA has spent.
 */
function onStopSignals(log: Logger, sidecar: Sidecar, step: () => Promise<unknown>, handlers: { stopping(): void; stop(signal: NodeJS.Signals): void }): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info({ signal }, 'stopping; installed files stay in place');
      handlers.stopping();
      if (!sidecar.attestationInFlight()) return handlers.stop(signal);
      log.info({}, `waiting up to ${ATTESTATION_GRACE_MS / 1000} s for the attestation in flight, so that the join token it spends is not wasted`);
      void Promise.race([step().catch(() => undefined), new Promise((r) => setTimeout(r, ATTESTATION_GRACE_MS))]).then(() => handlers.stop(signal));
    });
  }
}

/** How a process stopped by `signal` exits, as a shell reports one it killed: 128 + the signal's number. */
function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

const program = new Command('meshca-agent')
  .description('fetch, install and renew an X.509-SVID from meshca for the proxy next to a workload')
  .version(VERSION)
  .addOption(new Option('--config <file>', 'JSON file of settings (keys are the flag names)').env('MESHCA_AGENT_CONFIG'))
  // Commander would exit 1 on a flag it cannot parse: thrown instead, to exit EX_CONFIG like any configuration error.
  .exitOverride();
for (const spec of Object.values(AGENT_OPTIONS)) {
  const isSwitch = 'switch' in spec && spec.switch === true;
  const defaultValue = 'default' in spec && !isSwitch ? String(spec.default) : undefined;
  program.addOption(
    new Option(isSwitch ? `--${spec.name}` : `--${spec.name} <value>`, settingDescription(spec.describe, defaultValue, envName('MESHCA_AGENT', spec.name))),
  );
}

refuseRepeatedFlags(program);

/**
 * Publishes `files` and remembers the version ..data then points at, also
 * after a swap the disk did not sync (SwapNotDurableError): readers see that
 * version, so the watch on --out must compare with it, not with the one before.
 */
async function publishRemembered(publisher: AtomicDirectoryPublisher, installed: InstalledFiles, files: readonly PublishedFile[]): Promise<void> {
  const names = files.map((f) => f.name);
  try {
    await installed.remember(await publisher.publish(files), names);
  } catch (err) {
    if (err instanceof SwapNotDurableError) await installed.remember(err.version, names);
    throw err;
  }
}

async function main(): Promise<number> {
  // However the agent ends, a reload command it started goes with it.
  process.once('exit', stopReloadCommands);
  program.parse(process.argv);
  const flags = program.opts<Record<string, unknown> & { config?: string }>();
  const config = loadAgentConfig({ flags, env: process.env, file: configFileOption(flags.config, program.getOptionValueSource('config')) });
  const log = createLogger(config.logLevel, synchronousStdout(), { service: 'meshca-agent' });
  if (flags.joinToken !== undefined) {
    // Until it is spent, whoever reads it first attests as this agent; /proc/PID/environ and a 0600 file are the owner's alone.
    log.warn({}, 'a --join-token on the command line can be read by every local user (the process list) while the agent runs; give it in --join-token-file or MESHCA_AGENT_JOIN_TOKEN');
  }
  process.umask(0o022);
  // Before the join token is spent: every publication refuses a link or a file at --out, so an SVID bought now could
  // never be installed, and a restart would not change that (exit 78).
  await checkOutDirectory(config.out);
  // --state-dir may be a link (to a volume, say), as it always could; a file there is refused as early.
  if (config.stateDir) await checkOutDirectory(config.stateDir, '--state-dir', 'follow');
  const shared = config.stateDir ? await sharedWriteAccess(config.stateDir) : undefined;
  if (shared) {
    log.warn({ stateDir: config.stateDir }, `--state-dir holds the agent's own key, but ${shared}: whoever can write there can replace it or plant files; give the agent a directory of its own (it creates a missing one 0700)`);
  }
  await claimDirectories([{ path: config.out, what: '--out' }, ...(config.stateDir ? [{ path: config.stateDir, what: '--state-dir' }] : [])]);
  const client = new CaClient({ serverUrl: config.server });
  const tokenFile = config.joinTokenFile;
  const publisher = new AtomicDirectoryPublisher(config.out, systemClock, {
    removedEmptyDirectory: (path) =>
      log.warn({ path }, 'removed an empty directory where a link to the installed SVID goes (Docker makes one for a bind mount whose source is missing); restart a container that mounts it to see the file'),
  });
  const installedFiles = new InstalledFiles(config.out);
  const action = reloadAction(config);
  const sidecar = new Sidecar(
    {
      client,
      publish: (files) => installedFiles.publishing(() => publishRemembered(publisher, installedFiles, files)),
      // What a previous run left is what --out should go on holding, should the agent keep it.
      readPublished: () =>
        installedFiles.publishing(async () => {
          const files = await publisher.currentFiles();
          if (files) await installedFiles.remember(await publisher.currentVersion(), files.map((f) => f.name));
          return files;
        }),
      checkPublished: () => installedFiles.check(),
      reload: action.kind === 'none' ? undefined : () => performReload(action),
      clock: systemClock,
      random: cryptoRandom,
      log,
      state: config.stateDir ? new StateStore(config.stateDir) : undefined,
      // A Secret volume's key is a link; a FIFO or a huge file put there must neither hang the agent nor fill its memory.
      readJoinToken: tokenFile === undefined ? undefined : async () => (await readRegularFile(tokenFile, MAX_TOKEN_FILE_BYTES, true)).data,
      // A ConfigMap's key is a link too.
      readTrustBundle: async () => (await readRegularFile(config.trustBundleFile, MAX_TRUST_BUNDLE_BYTES, true)).data,
    },
    {
      joinToken: config.joinToken,
      spiffeId: config.spiffeId?.toString(),
      keyType: config.keyType,
      syncIntervalMs: config.syncInterval * 1000,
      combined: config.combined,
      once: config.once,
    },
    config.trustBundlePem,
  );
  await sidecar.restore();

  if (config.once) {
    answerSighup(() => log.info({ signal: 'SIGHUP' }, 'SIGHUP received; ignored (--once syncs anyway)'));
    let step = sidecar.step();
    // Stopped before the step is done: not a success, whatever the step would have installed.
    const stopped = new Promise<number>((resolve) => onStopSignals(log, sidecar, () => step, { stopping: () => undefined, stop: (signal) => resolve(signalExitCode(signal)) }));
    let interrupted: number | undefined;
    try {
      interrupted = await Promise.race([step.then(() => undefined), stopped]);
      const waitMs = interrupted === undefined ? crlWaitMs(sidecar, log) : undefined;
      if (waitMs !== undefined) {
        const stepAgain = delay(waitMs).then(() => (step = sidecar.step()));
        interrupted = await Promise.race([stepAgain.then(() => undefined), stopped]);
      }
    } finally {
      client.close();
    }
    if (interrupted !== undefined) return interrupted;
    // A valid SVID kept from --out is good enough while the CA is away, not once it has refused this agent.
    if (sidecar.status().agentRefused) {
      log.error({}, 'the CA refused this agent (evicted, banned, its SVID revoked, or superseded by another agent under its name), which may have revoked the SVID in --out too: give a new --join-token; exiting (--once)');
      return 1;
    }
    // Nothing will retry the reload: the caller (an init container, a script) must know.
    if (sidecar.status().reloadPending && sidecar.status().installed) {
      log.error({}, 'the SVID is installed in --out, but reloading the proxy failed: it may not be serving it; exiting (--once)');
      return 1;
    }
    const notReady = sidecar.status().installed ? sidecar.notReadyReason() : 'no SVID could be installed';
    if (notReady) {
      log.error({}, `${notReady}; exiting (--once)`);
      return 1;
    }
    const crlsMissing = sidecar.crlsNotInstalled();
    if (crlsMissing) {
      const validFromMs = crlsMissing.validFromMs;
      const early = validFromMs !== undefined && validFromMs > systemClock.nowMs();
      const why = early ? "the CA's CRLs are not valid yet by this host's clock, which is behind the CA's (check time sync)" : "the CA's CRLs were refused (the error above says why)";
      log.error(early ? { validFrom: new Date(validFromMs).toISOString() } : {}, `${why}, so no crl.pem is installed, which a proxy that checks CRLs cannot start without; exiting (--once)`);
      return 1;
    }
    const installed = sidecar.status().installed;
    // Kept rather than fail a workload's start while the CA is away: the SVID is valid, but the caller should know it is due.
    if (installed && installed.renewAtMs <= systemClock.nowMs()) {
      log.warn({ out: config.out, notAfter: new Date(installed.notAfterMs).toISOString() }, 'the valid SVID in --out is due for renewal, which the CA did not give now; keeping it and exiting (--once)');
      return 0;
    }
    log.info({ out: config.out }, 'SVID installed; exiting (--once)');
    return 0;
  }

  let health: Server | undefined;
  if (config.healthListen) {
    health = await startHealthServer(config.healthListen, {
      notReadyReason: () => sidecar.probeReadiness(),
      metrics: () => renderAgentMetrics(sidecar.status(), systemClock, VERSION),
    });
  }
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let stopping = false;
  let stepping = false;
  let step: Promise<number> = Promise.resolve(0);
  return new Promise<number>((resolve) => {
    const stop = (code: number) => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      client.close();
      health?.close();
      health?.closeAllConnections();
      resolve(code);
    };
    const loop = async () => {
      stepping = true;
      try {
        step = sidecar.step();
        const wait = await step;
        if (!stopped && !stopping) timer = setTimeout(() => void loop(), wait);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'stopping');
        // Several entries and no --spiffe-id at start-up: the same configuration error as with --once.
        stop(err instanceof SidecarConfigurationError ? EX_CONFIG : 1);
      } finally {
        stepping = false;
      }
    };
    onStopSignals(log, sidecar, () => step, {
      stopping: () => {
        stopping = true;
        clearTimeout(timer);
      },
      stop: () => stop(0),
    });
    /** Runs a step now rather than when the timer says; a step under way leaves what was asked to the next one. */
    const stepNow = () => {
      if (stepping || stopping || stopped) return;
      clearTimeout(timer);
      void loop();
    };
    void loop();
    // After the first step has begun: a SIGHUP held since start-up then asks for a sync, not a second loop.
    answerSighup(() => {
      log.info({ signal: 'SIGHUP' }, 'SIGHUP received; syncing with the CA now');
      // A step under way leaves the sync to the next one, which its wait then makes immediate.
      sidecar.requestSync();
      stepNow();
    });
    // A probe that saw --out lose files: they are installed again now, not at the next sync.
    sidecar.onOutLost = stepNow;
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Commander has printed what it could not parse; --help exits 0.
    if (err instanceof CommanderError) process.exit(commanderExitCode(err));
    if (err instanceof ConfigError || err instanceof SidecarConfigurationError) {
      console.error(`meshca-agent: ${err.message}`);
      process.exit(EX_CONFIG);
    }
    console.error(`meshca-agent: ${errorText(err)}`);
    process.exit(1);
  },
);
