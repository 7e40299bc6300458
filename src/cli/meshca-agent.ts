#!/usr/bin/env node
/**
 * `meshca-agent`'s entry point: catches SIGHUP before loading the agent
 * (agent-main.ts), whose modules take a few hundred milliseconds to load, so
 * that the signal never ends it silently (held-signals.ts), and sets V8's
 * compilers for a sidecar's footprint before any of the agent's code is
 * compiled (agent-v8-flags.ts).
 */
import { applyAgentV8Flags } from './agent-v8-flags.js';
import { holdSighup } from './held-signals.js';

holdSighup();
applyAgentV8Flags();
await import('./agent-main.js');
