#!/usr/bin/env node
/**
 * `meshca-agent`'s entry point: catches SIGHUP before loading the agent
 * (agent-main.ts), whose modules take a few hundred milliseconds to load, so
 * that the signal never ends it silently (held-signals.ts).
 */
import { holdSighup } from './held-signals.js';

holdSighup();
await import('./agent-main.js');
