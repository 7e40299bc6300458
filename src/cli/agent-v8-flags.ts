/**
 * V8 settings for the agent, applied by its entry point before the agent's
 * modules load. The agent is a sidecar on every workload and spends its life
 * idle between renewals: its JavaScript runs a few milliseconds every sync,
 * and the work that costs (key generation, signing, TLS) is native. V8's
 * optimizing and baseline compilers buy it nothing measurable, yet compiling
 * with them brings their code pages and compiled code into memory: without
 * them an idle agent is about 5 MB smaller (56 → 51 MB resident on Node 20,
 * measured against the same CA), for a renewal that stays within the noise
 * of its CPU figure. Set at run time rather than on the command line so that
 * every way of starting the agent (the bin, `node …/meshca-agent.js`, a
 * container's command) gets them.
 */
import { setFlagsFromString } from 'node:v8';

/** TurboFan (and Maglev, which Node 20 leaves off) and Sparkplug's baseline code: the interpreter is all an idle agent needs. */
export const AGENT_V8_FLAGS = ['--no-opt', '--no-sparkplug'] as const;

export function applyAgentV8Flags(): void {
  for (const flag of AGENT_V8_FLAGS) setFlagsFromString(flag);
}
